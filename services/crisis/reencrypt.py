"""`python -m services.crisis.reencrypt --org ORG`: seal an organization's crisis notes and webhook
secret again with the current notes key, so that older keys can be retired (README: rotating the
notes key).

Run it with the crisis service's environment: its database and its RN_NOTES_* keys. A value already
sealed with the current key is left alone, so an interrupted run continues where it stopped and a
second run changes nothing. Every write is conditional on the exact ciphertext it replaces: a value
that changed since it was read is read again, never overwritten. Exits 1 if any value failed.
"""

import argparse
import asyncio
import functools
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from pymongo.asynchronous.database import AsyncDatabase
from rich.console import Console
from rich.progress import Progress

from services.crisis import store
from services.crisis.settings import Settings
from shared.crypto import RetiredKey, Sealer, label
from shared.revisions import REV, write_revision
from shared.storage import connect, database

log = logging.getLogger(__name__)
Db = AsyncDatabase[dict[str, Any]]
Track = Callable[[Sequence[str]], Iterable[str]]
# The record id webhooks.save_endpoint seals the organization's signing secret under.
WEBHOOK_RECORD = "webhook"
MAX_RACES = 20


@dataclass
class Tally:
    reencrypted: int = 0
    current: int = 0
    failed: int = 0

    def add(self, other: "Tally") -> None:
        self.reencrypted += other.reencrypted
        self.current += other.current
        self.failed += other.failed


class CliSettings(Settings):
    # The crisis service's settings, read from the same variables; but this verifies no token, so it
    # does not need the service's way of verifying them.
    jwt_public_key_file: Path | None = Path(os.devnull)


def _resealed(sealer: Sealer, org: str, record_id: str, sealed: str, tally: Tally, what: str) -> str | None:
    """`sealed` sealed again with the current key; None (and counted) if it is current or will not open."""
    try:
        if sealer.is_current(sealed):
            tally.current += 1
            return None
        return sealer.seal(org, record_id, sealer.open(org, record_id, sealed))
    except (RetiredKey, InvalidTag, ValueError) as exc:
        # Ids and the reason only: never the text.
        log.warning("%s of %s cannot be opened: %s", what, org, str(exc) or type(exc).__name__)
        tally.failed += 1
        return None


async def reencrypt_case(db: Db, sealer: Sealer, org: str, case_id: str) -> Tally:
    """Every sealed value of one case: notes in one conditional write (only ever appended, so positions
    are stable), the safety plan and an 'other' referral as a revision of the case, because every change
    of a case writes those fields back as it read them: a plain write could be undone by an escalation
    landing a moment later, with the old key, and the CLI would have said it was done."""
    cases = store.cases(db, org)
    for _ in range(MAX_RACES):
        doc = await cases.find_one({"_id": case_id}) or {}
        tally = Tally()
        old: dict[str, str] = {}
        new: dict[str, str] = {}
        for i, note in enumerate(doc.get(store.NOTES, [])):
            resealed = _resealed(sealer, org, case_id, note["sealed"], tally, f"note {i} of case {case_id}")
            if resealed is not None:
                field = f"{store.NOTES}.{i}.sealed"
                old[field], new[field] = note["sealed"], resealed
        fields: dict[str, Any] = {}
        plan = doc.get("safety_plan")
        if plan and (
            resealed := _resealed(
                sealer, org, case_id, plan["sealed"], tally, f"the safety plan of case {case_id}"
            )
        ):
            fields["safety_plan"] = {**plan, "sealed": resealed}
        other = doc.get("referral_other")
        if other and (
            resealed := _resealed(sealer, org, case_id, other, tally, f"the referral of case {case_id}")
        ):
            fields["referral_other"] = resealed
        if new and not await cases.find_one_and_update({"_id": case_id, **old}, {"$set": new}):
            continue
        if fields and not await write_revision(db.cases, case_id, doc.get(REV, 0), fields):
            continue
        tally.reencrypted = len(new) + len(fields)
        return tally
    log.warning("case %s of %s changed under us %d times in a row; run again", case_id, org, MAX_RACES)
    return Tally(current=tally.current, failed=tally.failed + len(new) + len(fields))


async def reencrypt_webhook(db: Db, sealer: Sealer, org: str) -> Tally:
    """The organization's webhook signing secret, if it has an endpoint."""
    hooks = store.webhooks(db, org)
    for _ in range(MAX_RACES):
        doc = await hooks.find_one({})
        tally = Tally()
        if doc is None:
            return tally
        resealed = _resealed(sealer, org, WEBHOOK_RECORD, doc["secret"], tally, "the webhook secret")
        if resealed is None:
            return tally
        # A secret replaced in the meantime (a new endpoint) is not overwritten: read it again.
        written = {"_id": doc["_id"], "secret": doc["secret"]}
        if await hooks.find_one_and_update(written, {"$set": {"secret": resealed}}):
            return Tally(reencrypted=1)
    log.warning("the webhook secret of %s changed under us %d times in a row; run again", org, MAX_RACES)
    return Tally(failed=1)


async def cases_with_sealed_values(db: Db, org: str) -> list[str]:
    query = {
        "org": org,
        "$or": [
            {f"{store.NOTES}.0": {"$exists": True}},
            {"safety_plan": {"$ne": None}},
            {"referral_other": {"$ne": None}},
        ],
    }
    return [doc["_id"] async for doc in db.cases.find(query, {"_id": 1}, sort=[("_id", 1)])]


def _untracked(ids: Sequence[str]) -> Iterable[str]:
    return ids


async def reencrypt_org(db: Db, sealer: Sealer, org: str, track: Track = _untracked) -> Tally:
    """Every sealed value of one organization, sealed again with the current key where it is not."""
    tally = await reencrypt_webhook(db, sealer, org)
    for case_id in track(await cases_with_sealed_values(db, org)):
        tally.add(await reencrypt_case(db, sealer, org, case_id))
    return tally


async def run(settings: Settings, orgs: list[str], console: Console) -> int:
    """Prints a summary per organization (the progress bar goes to `console`); returns how many failed."""
    sealer = settings.notes_sealer()
    keyring = ", ".join(label(v) for v in sealer.versions)
    print(f"sealing with key {label(sealer.current)} (keyring: {keyring}) in {settings.database_name}")
    client = connect(settings)
    failed = 0
    try:
        db = database(client, settings)
        for org in orgs:
            with Progress(console=console) as progress:
                track = functools.partial(progress.track, description=f"{org}: cases")
                tally = await reencrypt_org(db, sealer, org, track)
            print(
                f"{org}: {tally.reencrypted} re-encrypted, {tally.current} already current, "
                f"{tally.failed} failed",
                flush=True,
            )
            failed += tally.failed
    finally:
        await client.close()
    return failed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m services.crisis.reencrypt",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--org", action="append", required=True, help="organization id; repeat for several")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    failed = asyncio.run(run(CliSettings(), args.org, Console(stderr=True)))
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
