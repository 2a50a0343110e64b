from services.meetings.main import create_app
from services.meetings.settings import Settings
from shared.serve import serve

if __name__ == "__main__":
    serve(create_app, Settings())
