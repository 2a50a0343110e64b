"""Renders a catalogue message in a person's language: a subject (the in-app title and the SMS text),
a plain-text part (the in-app body) and an HTML part escaped by Jinja2's autoescape (email).

One file per message and language, `templates/<language>/<template>.jinja`, with the blocks
`subject`, `text` and `html`. Undefined variables are errors, not blanks: a message that cannot be
rendered is dead-lettered with the reason instead of going out half empty.
"""

import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from services.notifications.model import Language

TEMPLATES = Path(__file__).parent / "templates"
BLOCKS = ("subject", "text", "html")
SEVERITY_ES = {"low": "baja", "moderate": "moderada", "high": "alta", "imminent": "inminente"}


class TemplateError(Exception):
    """A message that cannot be rendered: a missing template or block, an unknown variable."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        # Off by default, on inside each template's html block ({% autoescape true %}): the subject and
        # the text part are plain text, where an escaped "&amp;" would be a visible mistake.
        autoescape=False,
        keep_trailing_newline=False,
    )
    env.filters["severity_es"] = lambda s: SEVERITY_ES.get(s, s)
    env.filters["local_time"] = _local_time
    return env


def render(template: str, language: Language, context: dict[str, Any], *, zone: str = "UTC") -> Rendered:
    """`context` plus `url` (the message's absolute link) fill the template; times show in `zone`."""
    env = environment()
    try:
        tpl = env.get_template(f"{language}/{template}.jinja")
        ctx = tpl.new_context({**context, "zone": zone})
        parts = {block: "".join(tpl.blocks[block](ctx)).strip() for block in BLOCKS}
    except (jinja2.TemplateError, KeyError) as exc:
        raise TemplateError(f"{language}/{template}: {type(exc).__name__}: {exc}") from exc
    return Rendered(**parts)


@jinja2.pass_context
def _local_time(ctx: jinja2.runtime.Context, value: datetime) -> str:
    """A time as the reader's clock shows it (the `zone` the message is rendered for)."""
    return value.astimezone(ZoneInfo(ctx["zone"])).strftime("%Y-%m-%d %H:%M %Z")
