"""The smallest valid value of a JSON schema, as a service's OpenAPI document gives it.

The request models are strict (JSON types as sent, nothing coerced), so a value that merely looks right
("x" for a date, 1.0 for an integer) is refused before the handler runs, and a test calling every route
with such values would only ever see 422s. Here each keyword the services' documents use is honoured.
"""

import datetime as dt
import math
import re
from typing import Any

# A fixed day, so a body is the same in every run; dates "not after today" take it as well.
DAY = dt.date(2026, 1, 5)


def example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """The smallest value `schema` accepts: required properties only, minItems items, the minimum."""
    if "$ref" in schema:
        return example(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    if "default" in schema:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return example(next(s for s in schema[key] if s.get("type") != "null"), components)
    if "allOf" in schema:
        return example(schema["allOf"][0], components)
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {k: example(properties.get(k, {}), components) for k in schema.get("required", [])}
    if kind == "array":
        return [example(schema.get("items", {}), components) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return _integer(schema)
    if kind == "number":
        return _number(schema)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return _string(schema)


def _integer(schema: dict[str, Any]) -> int:
    # Pydantic writes integer bounds as floats (minimum: 1.0): a strict integer field refuses 1.0.
    low = math.ceil(schema["minimum"]) if "minimum" in schema else None
    if "exclusiveMinimum" in schema:
        low = math.floor(schema["exclusiveMinimum"]) + 1
    value = 0 if low is None else low
    if "maximum" in schema:
        value = min(value, math.floor(schema["maximum"]))
    return value


def _number(schema: dict[str, Any]) -> float:
    if "minimum" in schema:
        return float(schema["minimum"])
    if "exclusiveMinimum" in schema:
        # Halfway to the maximum (or one past the bound): never the excluded bound itself.
        above = schema["exclusiveMinimum"]
        return (above + schema["maximum"]) / 2 if "maximum" in schema else float(above + 1)
    return min(0.0, float(schema.get("maximum", 0.0)))


FORMATS = {
    "date": DAY.isoformat(),
    "date-time": f"{DAY.isoformat()}T09:00:00",
    "time": "09:00",
    "email": "someone@example.org",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "uri": "https://example.org/",
}


def _string(schema: dict[str, Any]) -> str:
    if schema.get("format") in FORMATS:
        value = FORMATS[schema["format"]]
    elif "pattern" in schema:
        value = matching(schema["pattern"])
    else:
        value = "x"
    value = value.ljust(schema.get("minLength", 0), value[-1:] or "x")
    assert len(value) <= schema.get("maxLength", len(value)), (schema, value)
    if "pattern" in schema:
        # A longer value made to reach minLength must still match: say so rather than send a 422.
        assert re.search(schema["pattern"], value), f"no example for {schema}: extend matching()"
    return value


def matching(pattern: str) -> str:
    """The shortest text matching a simple regular expression (anchors, classes, groups with
    alternatives, escapes, quantifiers); a pattern beyond that fails loudly, to be taught here."""
    text, end = _sequence(pattern, 0)
    assert end == len(pattern), f"unbalanced pattern {pattern!r}"
    assert re.search(pattern, text), f"no example for {pattern!r}"
    return text


ESCAPES = {"d": "0", "w": "x", "s": " ", "D": "x", "W": "-", "S": "x"}


def _sequence(pattern: str, i: int) -> tuple[str, int]:
    """The text for pattern[i:] up to an unmatched ")" (the first alternative of each "|")."""
    out = []
    while i < len(pattern) and pattern[i] != ")":
        if pattern[i] == "|":  # the first alternative is enough: skip the others
            depth = 0
            while i < len(pattern) and (depth or pattern[i] != ")"):
                depth += {"(": 1, ")": -1}.get(pattern[i], 0)
                i += 2 if pattern[i] == "\\" else 1
            break
        atom, i = _atom(pattern, i)
        times, i = _quantifier(pattern, i)
        out.append(atom * times)
    return "".join(out), i


def _atom(pattern: str, i: int) -> tuple[str, int]:
    c = pattern[i]
    if c in "^$":
        return "", i + 1
    if c == "(":
        i += 3 if pattern.startswith("(?:", i) else 1
        text, i = _sequence(pattern, i)
        return text, i + 1  # past ")"
    if c == "[":
        return _class(pattern, i + 1)
    if c == "\\":
        return ESCAPES.get(pattern[i + 1], pattern[i + 1]), i + 2
    if c == ".":
        return "x", i + 1
    return c, i + 1


def _class(pattern: str, i: int) -> tuple[str, int]:
    """A character class: its first member, or for a negated one a letter it leaves out."""
    negated = pattern[i] == "^"
    end = i + 1
    while pattern[end] != "]" or end == i + negated:  # a "]" first in a class is a member
        end += 2 if pattern[end] == "\\" else 1
    members = pattern[i + negated : end]
    if negated:
        choice = next(c for c in "xyz0" if not re.fullmatch(f"[{members}]", c))
    else:
        choice = ESCAPES.get(members[1], members[1]) if members[0] == "\\" else members[0]
    return choice, end + 1


def _quantifier(pattern: str, i: int) -> tuple[int, int]:
    if i < len(pattern) and pattern[i] in "*?":
        return 0, i + 1
    if i < len(pattern) and pattern[i] == "+":
        return 1, i + 1
    found = re.match(r"\{(\d+)(,\d*)?\}", pattern[i:])
    if found:
        return int(found.group(1)), i + found.end()
    return 1, i


def fits(value: str, schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """Whether a text (a path or query parameter) is valid for `schema`: one that is not would only
    earn a 422 from the request's validation, and never reach the handler."""
    if "$ref" in schema:
        return fits(value, components[schema["$ref"].rsplit("/", 1)[-1]], components)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return any(fits(value, s, components) for s in schema[key] if s.get("type") != "null")
    if "enum" in schema:
        return value in schema["enum"]
    if schema.get("type", "string") != "string":
        return False
    if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
        return False
    if "pattern" in schema and not re.search(schema["pattern"], value):
        return False
    parse = PARSERS.get(schema.get("format", ""))
    try:
        return parse is None or bool(parse(value))
    except ValueError:
        return False


PARSERS: dict[str, Any] = {
    "date": dt.date.fromisoformat,
    "date-time": dt.datetime.fromisoformat,
    "time": dt.time.fromisoformat,
}
