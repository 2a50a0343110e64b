from services.insights.main import create_app
from services.insights.settings import Settings
from shared.serve import serve

if __name__ == "__main__":
    serve(create_app, Settings())
