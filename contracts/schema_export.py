"""JSON Schemas of every event, and the rule for what counts as a breaking change.

`python -m contracts.schema_export` rewrites `contracts/schemas/`; the contract tests fail when
the committed files differ from what the models generate, or when a change breaks a version.
"""

import json
from pathlib import Path
from typing import Any

from contracts.catalog import EVENTS

SCHEMA_DIR = Path(__file__).parent / "schemas"


def generate() -> dict[str, str]:
    """File name -> schema text, for every event in the catalog."""
    files = {}
    for event in EVENTS:
        schema = event.model_json_schema(mode="serialization")
        schema["$id"] = f"urn:recovery-network:event:{event.type_name()}"
        files[f"{event.type_name()}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    """What a consumer built against `old` would no longer accept in `new`.

    Removing a property, retyping one, or making a field required breaks a version; adding an
    optional property does not.
    """
    problems: list[str] = []
    old_defs, new_defs = old.get("$defs", {}), new.get("$defs", {})

    def resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref", "")
        return defs.get(ref.rsplit("/", 1)[-1], schema) if ref else schema

    def walk(o: dict[str, Any], n: dict[str, Any], where: str) -> None:
        o, n = resolve(o, old_defs), resolve(n, new_defs)
        if o.get("type") != n.get("type"):
            problems.append(f"{where or '/'}: type {o.get('type')!r} became {n.get('type')!r}")
            return
        if o.get("const", n.get("const")) != n.get("const") or (
            o.get("enum") and o.get("enum") != n.get("enum")
        ):
            problems.append(f"{where or '/'}: allowed values changed")
        o_props, n_props = o.get("properties", {}), n.get("properties", {})
        for name in o_props:
            if name not in n_props:
                problems.append(f"{where}/{name}: removed")
            else:
                walk(o_props[name], n_props[name], f"{where}/{name}")
        for name in set(n.get("required", [])) - set(o.get("required", [])):
            problems.append(f"{where}/{name}: became required")
        if "items" in o and "items" in n:
            walk(o["items"], n["items"], f"{where}[]")

    walk(old, new, path)
    return problems


def main() -> None:
    SCHEMA_DIR.mkdir(exist_ok=True)
    files = generate()
    for stale in SCHEMA_DIR.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (SCHEMA_DIR / name).write_text(text)
    print(f"wrote {len(files)} schemas to {SCHEMA_DIR}")


if __name__ == "__main__":
    main()
