"""`make contracts` (second half): the AsyncAPI document of every service, from its FastStream broker.

Written to contracts/asyncapi/<service>.json and committed; a contract test keeps them current.
"""

import importlib
import json
import tempfile
from pathlib import Path

from deploy.local.topology import SERVICES
from shared.auth.devkeys import ensure_keypair

ASYNCAPI_DIR = Path(__file__).resolve().parents[2] / "contracts" / "asyncapi"


def generate() -> dict[str, str]:
    files: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as keys:
        _, public_key = ensure_keypair(Path(keys))
        for spec in SERVICES:
            main = importlib.import_module(f"services.{spec.name}.main")
            settings_mod = importlib.import_module(f"services.{spec.name}.settings")
            app = main.create_app(settings_mod.Settings(jwt_public_key_file=public_key))
            asyncapi = getattr(app.state, "asyncapi", None)
            if asyncapi is None:
                continue  # insights speaks OTLP/HTTP, not NATS
            doc = asyncapi.to_specification().to_jsonable()
            files[f"{spec.name}.json"] = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    return files


def main() -> None:
    ASYNCAPI_DIR.mkdir(exist_ok=True)
    for name, text in generate().items():
        (ASYNCAPI_DIR / name).write_text(text)
        print(f"wrote {ASYNCAPI_DIR / name}")


if __name__ == "__main__":
    main()
