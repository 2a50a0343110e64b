"""A member's proof of attendance, for a court, an employer or a treatment programme: a CSV file and a
printable page, both from the member's history (what each meeting was when they attended it)."""

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, Template, select_autoescape

from services.meetings.attendance.model import Attended
from services.meetings.attendance.service import History

TEMPLATES = Path(__file__).with_name("templates")
COLUMNS = ("Meeting", "Date", "Start", "End", "Time zone", "Place", "Online", "Attendance option", "Method")
METHODS = {"code": "checked in with the meeting's code", "facilitator": "marked by the facilitator"}
# A spreadsheet runs a cell that starts with one of these as a formula: a meeting's name comes from
# whoever listed it, so such a cell is written as text (OWASP, "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Produced:
    member_id: str
    org_id: str
    org_name: str
    at: datetime  # UTC


def _cell(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_START) else value


def row(a: Attended) -> list[str]:
    start, end = a.local_start, a.local_end
    return [
        a.name,
        a.occurrence.isoformat(),
        start.strftime("%H:%M"),
        end.strftime("%H:%M"),
        a.timezone,
        a.where or "",
        "yes" if a.online else "no",
        a.attendance_option,
        METHODS[a.method],
    ]


def csv_text(history: History, produced: Produced) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(["Proof of attendance"])
    writer.writerow(["Member", produced.member_id])
    writer.writerow(["Organization", f"{produced.org_name} ({produced.org_id})"])
    writer.writerow(["Produced", produced.at.strftime("%Y-%m-%d %H:%M:%S UTC")])
    writer.writerow(["Meetings attended", str(history.summary.total)])
    writer.writerow([])
    writer.writerow(COLUMNS)
    for a in history.attended:
        writer.writerow([_cell(v) for v in row(a)])
    return out.getvalue()


@cache
def _page() -> Template:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("proof.html")


def html_page(history: History, produced: Produced) -> str:
    return _page().render(
        history=history,
        summary=history.summary,
        produced=produced,
        columns=COLUMNS,
        rows=[row(a) for a in history.attended],
    )
