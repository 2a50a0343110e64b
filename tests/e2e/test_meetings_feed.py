"""A network imports its meeting list as a Meeting Guide feed; the feed it publishes reads back the same."""

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.local.stack import REPO, Stack
from services.meetings.feed.model import Parsed, from_feed
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.helpers import eventually, joined
from tests.services.meetings.test_feed import assert_valid_feed

pytestmark = pytest.mark.e2e

ORG = "feed-e2e"
ZONE = "America/Chicago"
PLACE = {"formatted_address": "4953 W Addison St, Chicago, IL 60641, USA"}
GOOD: list[dict[str, Any]] = [
    {
        "name": "Feed Serenity",
        "slug": "fe2e-serenity",
        "day": 0,
        "time": "18:00",
        "end_time": "19:30",
        "timezone": "America/Los_Angeles",
        "address": "123 Main St",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "USA",
        "location": "Alano Club",
        "latitude": 39.78,
        "longitude": -89.65,
        "approximate": "no",
        "regions": ["Springfield", "Downtown"],
        "conference_url": "https://zoom.us/j/123456789",
        "conference_phone": "+1234567890",
        "types": ["O", "D"],
        "notes": "Ring buzzer.",
        "group": "Serenity Group",
        "url": "https://district123.org/m/1",
        "entity": "District 123",
        "entity_email": "info@district123.org",
        "contact_1_name": "John",
        "feedback_emails": ["updates@district123.org"],
    },
    # Real feeds: an integer slug, days as an array and as text, no timezone, a Canadian address,
    # an unknown type code, a field outside the format, nulls and empty strings.
    {
        "name": "Feed Tweed",
        "slug": 90817,
        "day": "2",
        "time": "7:30 PM",
        "location": "St Andrews",
        "notes": "",
        "address": "55 Victoria St N.",
        "city": "Tweed",
        "postal_code": None,
        "country": "CA",
        "location_id": 8,
    },
    {
        "name": "Feed Weekdays",
        "slug": "fe2e-weekdays",
        "day": [1, 3, 5],
        "time": "12:00:00",
        "types": ["O", "LOCAL-7"],
        "timezone": ZONE,
        **PLACE,
    },
]
FAULTY: list[tuple[dict[str, Any], str]] = [
    ({"name": "No slug", "day": 1, "time": "19:00", **PLACE}, "no slug"),
    ({"name": "No day", "slug": "fe2e-no-day", "time": "19:00", **PLACE}, "no day"),
    ({"name": "Late", "slug": "fe2e-late", "day": 1, "time": "25:00", **PLACE}, 'time "25:00"'),
    (
        {"name": "Mars", "slug": "fe2e-mars", "day": 1, "time": "19:00", "timezone": "Mars/Olympus", **PLACE},
        "unknown time zone",
    ),
    ({"name": "Nowhere", "slug": "fe2e-nowhere", "day": 1, "time": "19:00"}, "needs an address"),
    ({"name": "Twin", "slug": "fe2e-weekdays", "day": 2, "time": "19:00", **PLACE}, "already item 2"),
]
FEED = GOOD + [item for item, _ in FAULTY]
# What the format has no field for: made here, it must come back from our own feed unchanged.
MONTHLY = {
    "name": "Feed Monthly",
    "day": 3,
    "monthly": [{"nth": 1, "day": 0}, {"nth": -1, "day": 5}],
    "dates": ["2099-12-24"],
    "time": "19:00",
    "timezone": ZONE,
    **PLACE,
}


def listings(items: list[dict[str, Any]]) -> dict[str, Any]:
    parsed = [from_feed(item, ZONE) for item in items]
    return {p.slug: p.listing for p in parsed if isinstance(p, Parsed)}


async def test_a_feed_imports_once_exports_valid_and_round_trips(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    base = network.url("meetings")
    admin = tokens("feed-admin", ORG, Role.ORG_ADMIN)
    with joined(
        network.network_file, [], [{"id": ORG, "name": "Feed E2E", "region": "lakeshore", "time_zone": ZONE}]
    ):
        r = await http.post(f"{base}/meetings/import", json=FEED, headers=admin)
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["imported"], report["skipped"]) == (3, 6)
        lines = report["items"]
        assert [line["outcome"] for line in lines[:3]] == ["imported"] * 3
        assert lines[1]["slug"] == "90817" and "no timezone: America/Chicago assumed" in lines[1]["notes"]
        assert "fields ignored: location_id" in lines[1]["notes"]
        assert "unknown type codes kept: LOCAL-7" in lines[2]["notes"]
        for line, (_, reason) in zip(lines[3:], FAULTY, strict=True):
            assert line["outcome"] == "skipped" and reason in line["reason"], line

        # Again, as a file upload: every meeting is unchanged, none is added.
        upload = {"file": ("meetings.json", json.dumps(FEED).encode(), "application/json")}
        r = await http.post(f"{base}/meetings/import", files=upload, headers=admin)
        assert r.status_code == 200, r.text
        again = r.json()
        assert [line["outcome"] for line in again["items"][:3]] == ["unchanged"] * 3
        assert again["skipped"] == 6

        r = await http.post(f"{base}/meetings", json=MONTHLY, headers=admin)
        assert r.status_code == 201, r.text
        monthly = r.json()["slug"]

        async def published() -> list[dict[str, Any]]:
            # The feed is written from the directory, which follows the meetings events.
            r = await http.get(f"{base}/feeds/{ORG}/meetings.json")
            assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
            items: list[dict[str, Any]] = r.json()
            return items if len(items) == 4 else []

        exported = await eventually(published)
        assert_valid_feed(exported)
        assert sorted(item["slug"] for item in exported) == sorted(
            ["90817", "fe2e-serenity", "fe2e-weekdays", monthly]
        )
        assert listings([i for i in exported if i["slug"] != monthly]) == listings(GOOD)
        assert listings([i for i in exported if i["slug"] == monthly])[monthly].model_dump(
            mode="json", exclude_defaults=True, exclude_none=True
        ) == {**MONTHLY, "day": 3}
        # Our own feed imported back changes nothing, the monthly meeting's schedule included.
        back = (await http.post(f"{base}/meetings/import", json=exported, headers=admin)).json()
        assert (back["unchanged"], len(back["items"])) == (4, 4), back

        network_feed = (await http.get(f"{base}/feeds/meetings.json")).json()
        assert {"90817", "fe2e-serenity"} <= {item["slug"] for item in network_feed}
        assert (await http.get(f"{base}/feeds/no-such-org/meetings.json")).status_code == 404

        # Refused whole, with nothing written: a 50 MB upload, a file that is not a feed, a member.
        huge = {"file": ("huge.json", b"[" + b" " * (50 * 1024 * 1024) + b"]", "application/json")}
        r = await http.post(f"{base}/meetings/import", files=huge, headers=admin)
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
        not_a_feed = [{"name": "x", "slug": "fe2e-x", "day": 1, "time": "19:00", **PLACE}, 42]
        nested = b"[" * 100_000 + b"]" * 100_000
        for body in (json.dumps(not_a_feed).encode(), b'{"meetings": []}', b"<html>", nested):
            r = await http.post(f"{base}/meetings/import", files={"file": ("f.json", body)}, headers=admin)
            assert r.status_code == 422 and r.json()["detail"], r.text
        json_body = {**admin, "content-type": "application/json"}
        r = await http.post(f"{base}/meetings/import", content=nested, headers=json_body)
        assert r.status_code == 422, r.text
        member = tokens("feed-member", ORG, Role.MEMBER)
        assert (await http.post(f"{base}/meetings/import", json=FEED, headers=member)).status_code == 403
        after = (await http.get(f"{base}/feeds/{ORG}/meetings.json")).json()
        assert sorted(item["slug"] for item in after) == sorted(item["slug"] for item in exported)


async def test_the_cli_imports_a_file_in_batches_and_refuses_a_file_that_is_not_a_feed(
    network: Stack, tokens: Tokens, tmp_path: Path
) -> None:
    org = "feed-cli"
    token = tokens("feed-cli-admin", org, Role.ORG_ADMIN)["Authorization"].removeprefix("Bearer ")
    items = [
        {"name": "Cli One", "slug": "fe2e-cli-1", "day": 1, "time": "19:00", **PLACE},
        {"name": "Cli Two", "slug": "fe2e-cli-2", "day": 2, "time": "19:00", **PLACE},
        {"name": "Cli Twin", "slug": "fe2e-cli-1", "day": 3, "time": "19:00", **PLACE},
        {"name": "Cli Late", "slug": "fe2e-cli-3", "day": 3, "time": "25:00", **PLACE},
    ]
    feed_file, not_feed = tmp_path / "feed.json", tmp_path / "not.json"
    feed_file.write_text(json.dumps(items))
    not_feed.write_text('{"name": "one meeting"}')

    async def cli(*args: str) -> tuple[int, str]:
        command = [sys.executable, "-m", "services.meetings.feed", "import", *args]
        command += [
            "--service",
            network.url("meetings"),
            "--token",
            token,
            "--timezone",
            ZONE,
            "--batch",
            "1",
        ]
        proc = await asyncio.create_subprocess_exec(
            *command,
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        )
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode()

    with joined(network.network_file, [], [{"id": org, "name": "Feed CLI", "region": "lakeshore"}]):
        code, out = await cli(str(feed_file))
        assert code == 0, out
        assert "4 items: 2 imported, 0 updated, 0 unchanged, 2 skipped" in out
        assert "slug 'fe2e-cli-1' is already item 0 of this feed" in out
        assert 'time "25:00" is not a time of day' in out
        code, out = await cli(str(feed_file))
        assert "4 items: 0 imported, 0 updated, 2 unchanged, 2 skipped" in out, out
        code, out = await cli(str(not_feed))
        assert code == 2 and "is not a Meeting Guide feed" in out
