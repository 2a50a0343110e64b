"""`python -m services.meetings.feed import FILE-OR-URL --service URL --token TOKEN`: bring a network's
existing meeting list (any Meeting Guide feed: a file, or the URL of a 12 Step Meeting List site's feed)
into an organization, through the meetings service's own upload route, in batches with a progress bar.

The token is an org admin's (or set RN_TOKEN). Each item gets a line (imported, updated, unchanged,
skipped and why), then a summary. Running it again updates what changed and duplicates nothing.
`export` writes an organization's (or the network's) feed to a file or stdout.

Exits 0 when the feed was read (skipped items are in the report), 2 when the file is not a feed,
1 when the service refused a batch: the report then has the batches imported before it, and says which
batch failed (running the import again finishes it: what is already imported comes back unchanged).
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from services.meetings.feed.model import Report, ReportLine, duplicate, feed_slug
from services.meetings.feed.service import parse_feed
from shared.http import Problem

DEFAULT_SERVICE = "http://127.0.0.1:8101"
STYLE = {"imported": "green", "updated": "cyan", "unchanged": "dim", "skipped": "yellow"}


class Refused(Exception):
    """The service refused a batch (or could not be reached): what was imported before it, and why."""

    def __init__(self, reason: str, report: Report, batch: int, batches: int, first: int) -> None:
        super().__init__(reason)
        self.reason, self.report, self.batch, self.batches, self.first = reason, report, batch, batches, first

    def __str__(self) -> str:
        return (
            f"batch {self.batch} of {self.batches} (from item {self.first} of the feed) was refused: "
            f"{self.reason}; the items before it are imported as reported, the rest are not"
        )


def read_source(source: str, timeout: float) -> bytes:
    if source.startswith(("http://", "https://")):
        response = httpx.get(source, follow_redirects=True, timeout=timeout)
        response.raise_for_status()
        return response.content
    return Path(source).read_bytes()


def _problem_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"{response.status_code} {body.get('title', '')}: {body.get('detail', '')}"
    except ValueError:
        return f"{response.status_code} {response.text[:200]}"


def first_of_each_slug(items: list[dict[str, Any]]) -> tuple[list[int], list[ReportLine]]:
    """The positions to send, and a skipped line for every later item with a slug already seen.

    Found here because batches are imported one by one: the service would take a later batch's
    repeat of a slug for an update of the earlier item.
    """
    seen: dict[str, int] = {}
    send, repeats = [], []
    for index, item in enumerate(items):
        slug = feed_slug(item)
        if slug is not None and slug in seen:
            reason = duplicate(slug, seen[slug])
            repeats.append(
                ReportLine(index=index, slug=str(item.get("slug")), outcome="skipped", reason=reason)
            )
            continue
        if slug is not None:
            seen[slug] = index
        send.append(index)
    return send, repeats


def import_feed(
    items: list[dict[str, Any]],
    *,
    service: str,
    token: str,
    timezone: str | None,
    batch: int,
    console: Console,
    timeout: float = 120.0,
    transport: httpx.BaseTransport | None = None,
) -> Report:
    """The report of every batch; Refused (with the report so far) when the service refuses one."""
    send, repeats = first_of_each_slug(items)
    report = Report()
    for line in repeats:
        report.add(line)
    params = {"timezone": timezone} if timezone else {}
    headers = {"Authorization": f"Bearer {token}"}
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with (
        httpx.Client(base_url=service, headers=headers, timeout=timeout, transport=transport) as client,
        Progress(*columns, console=console, transient=True) as progress,
    ):
        task = progress.add_task("import", total=len(items))
        progress.advance(task, len(repeats))
        batches = -(-len(send) // batch)
        for number, start in enumerate(range(0, len(send), batch), start=1):
            positions = send[start : start + batch]
            try:
                response = client.post("/meetings/import", json=[items[i] for i in positions], params=params)
            except httpx.HTTPError as exc:
                response, reason = None, str(exc) or type(exc).__name__
            if response is not None and response.status_code == 200:
                for line in Report.model_validate(response.json()).items:
                    report.add(line.model_copy(update={"index": positions[line.index]}))
                progress.advance(task, len(positions))
                continue
            if response is not None:
                reason = _problem_text(response)
            report.items.sort(key=lambda line: line.index)
            raise Refused(reason, report, number, batches, positions[0])
    report.items.sort(key=lambda line: line.index)
    return report


def print_report(report: Report, console: Console) -> None:
    for line in report.items:
        said = [line.reason] if line.reason else []
        if line.listed_as and line.listed_as != line.slug:
            said.append(f"listed as {line.listed_as}")
        said += line.notes
        style = STYLE[line.outcome]
        console.print(
            f"{line.index:>6}  {escape(str(line.slug or '-')):<24} [{style}]{line.outcome:<9}[/{style}] "
            + escape("; ".join(said))
        )
    console.print(report.summary())


def _import(args: argparse.Namespace, console: Console, transport: httpx.BaseTransport | None) -> int:
    try:
        items = parse_feed(read_source(args.source, args.timeout))
    except Problem as problem:
        console.print(f"[red]{escape(args.source)} is not a Meeting Guide feed:[/red] {problem.detail}")
        return 2
    except (OSError, httpx.HTTPError) as exc:
        console.print(f"[red]cannot read {escape(args.source)}:[/red] {escape(str(exc))}")
        return 2
    try:
        report = import_feed(
            items,
            service=args.service,
            token=args.token,
            timezone=args.timezone,
            batch=args.batch,
            console=console,
            timeout=args.timeout,
            transport=transport,
        )
    except Refused as refused:
        print_report(refused.report, console)
        console.print(f"[red]the service refused the import:[/red] {escape(str(refused))}")
        return 1
    print_report(report, console)
    return 0


def _export(args: argparse.Namespace, console: Console) -> int:
    path = f"/feeds/{args.org}/meetings.json" if args.org else "/feeds/meetings.json"
    response = httpx.get(args.service + path, timeout=args.timeout)
    if response.status_code != 200:
        console.print(f"[red]{escape(_problem_text(response))}[/red]")
        return 1
    text = json.dumps(response.json(), indent=2, ensure_ascii=False)
    if args.output:
        Path(args.output).write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0


def main(argv: list[str] | None = None, *, transport: httpx.BaseTransport | None = None) -> int:
    """`transport`: where the import's requests go instead of the network (tests answer from memory)."""
    parser = argparse.ArgumentParser(
        prog="python -m services.meetings.feed", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    imports = commands.add_parser("import", help="import a Meeting Guide feed into your organization")
    imports.add_argument("source", help="a feed file, or its http(s) URL")
    imports.add_argument(
        "--token", default=os.environ.get("RN_TOKEN"), help="an org admin's token (or RN_TOKEN)"
    )
    imports.add_argument("--timezone", help="for items without one (default: the organization's)")
    imports.add_argument("--batch", type=int, default=100, help="items per request (default 100)")
    exports = commands.add_parser("export", help="write a Meeting Guide feed")
    exports.add_argument("--org", help="one organization (default: the whole network)")
    exports.add_argument("-o", "--output", help="a file (default: stdout)")
    for command in (imports, exports):
        command.add_argument(
            "--service", default=DEFAULT_SERVICE, help=f"the meetings service (default {DEFAULT_SERVICE})"
        )
        command.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    args = parser.parse_args(argv)
    console = Console(stderr=args.command == "export")
    if args.command == "import":
        if not args.token:
            parser.error("--token (or RN_TOKEN) is required")
        if args.batch < 1:
            parser.error("--batch must be at least 1")
        return _import(args, console, transport)
    return _export(args, console)


if __name__ == "__main__":
    sys.exit(main())
