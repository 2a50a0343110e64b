"""Rotating the notes key on the real store: old values stay readable, the CLI moves an organization
to the new key, and once it has, the old key can go without losing a note or a webhook secret."""

import base64
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from contracts.ids import new_id
from deploy.local.stack import REPO, Stack
from services.crisis import reencrypt, service, store
from shared.crypto import RetiredKey, Sealer
from shared.revisions import REV
from shared.storage import OrgCollection

Db = AsyncDatabase[dict[str, Any]]
K1, K2 = os.urandom(32), os.urandom(32)
V1_ONLY, ROTATED, V2_ONLY = Sealer({1: K1}), Sealer({1: K1, 2: K2}), Sealer({2: K2})
B64_V1, B64_V2 = base64.b64encode(K1).decode(), base64.b64encode(K2).decode()


async def new_case(db: Db, org: str) -> str:
    case_id = new_id()
    await store.cases(db, org).insert_one({"_id": case_id, "state": "open", REV: 0})
    return case_id


async def note(db: Db, sealer: Sealer, org: str, case_id: str, text: str) -> None:
    await service.add_note(db, sealer, org, case_id, "resp-1", text, service.utcnow())


async def legacy_note(db: Db, org: str, case_id: str, text: str) -> None:
    """A note as it was sealed before values carried their key version: no prefix."""
    sealed = V1_ONLY.seal(org, case_id, text).removeprefix("v1:")
    entry = {"at": service.utcnow(), "author": "resp-1", "sealed": sealed}
    await store.cases(db, org).find_one_and_update({"_id": case_id}, {"$push": {store.NOTES: entry}})


async def texts(db: Db, sealer: Sealer, org: str, case_id: str) -> list[str]:
    return [n["text"] for n in await service.read_notes(db, sealer, org, case_id, "resp-1", service.utcnow())]


async def save_webhook_secret(db: Db, sealer: Sealer, org: str, secret: str) -> None:
    """Stored as services/crisis/webhooks.py stores it: sealed under the record id "webhook"."""
    update = {"$set": {"url": "https://hooks.example.org/rn", "secret": sealer.seal(org, "webhook", secret)}}
    await store.webhooks(db, org).find_one_and_update({}, update, upsert=True)


async def webhook_secret(db: Db, sealer: Sealer, org: str) -> str:
    doc = await store.webhooks(db, org).find_one({})
    assert doc is not None
    return sealer.open(org, "webhook", doc["secret"])


async def stored(db: Db, org: str) -> list[dict[str, Any]]:
    cases = await db.cases.find({"org": org}, sort=[("_id", 1)]).to_list()
    return [*cases, *await db.webhooks.find({"org": org}).to_list()]


def run_cli(stack: Stack, db: Db, keys: str, *orgs: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RN_NOTES_")}
    env |= {"RN_MONGODB_URL": stack.database_url, "RN_DATABASE": db.name, "RN_NOTES_KEYS": keys}
    args = [a for org in orgs for a in ("--org", org)]
    return subprocess.run(
        [sys.executable, "-m", "services.crisis.reencrypt", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_rotating_the_key_and_retiring_the_old_one_loses_no_note_and_no_webhook_secret(
    stack: Stack, scratch_db: Db
) -> None:
    db, org = scratch_db, "org-rotate"
    case_id = await new_case(db, org)
    await legacy_note(db, org, case_id, "written before keys had versions")
    await note(db, V1_ONLY, org, case_id, "written with v1")
    await save_webhook_secret(db, V1_ONLY, org, "whsec_written-with-v1")

    # Rotated: v2 seals, v1 still reads.
    await note(db, ROTATED, org, case_id, "written with v2")
    all_notes = ["written before keys had versions", "written with v1", "written with v2"]
    assert await texts(db, ROTATED, org, case_id) == all_notes
    assert await webhook_secret(db, ROTATED, org) == "whsec_written-with-v1"
    with pytest.raises(RetiredKey, match="key v1"):
        await texts(db, V2_ONLY, org, case_id)  # what retiring v1 now would do

    first = run_cli(stack, db, f"v2:{B64_V2},v1:{B64_V1}", org)
    assert first.returncode == 0, first.stderr
    assert f"{org}: 3 re-encrypted, 1 already current, 0 failed" in first.stdout

    # v1 retired: everything reads with v2 alone.
    assert await texts(db, V2_ONLY, org, case_id) == all_notes
    assert await webhook_secret(db, V2_ONLY, org) == "whsec_written-with-v1"
    before = await stored(db, org)
    second = run_cli(stack, db, f"v2:{B64_V2}", org)
    assert second.returncode == 0, second.stderr
    assert f"{org}: 0 re-encrypted, 4 already current, 0 failed" in second.stdout
    assert await stored(db, org) == before


async def test_an_interrupted_run_continues_and_other_organizations_are_left_alone(
    stack: Stack, scratch_db: Db
) -> None:
    db = scratch_db
    done, pending = await new_case(db, "org-r"), await new_case(db, "org-r")
    other = await new_case(db, "org-s")
    for case_id, org in ((done, "org-r"), (pending, "org-r"), (other, "org-s")):
        await note(db, V1_ONLY, org, case_id, f"note of {case_id}")
    interrupted = await reencrypt.reencrypt_case(db, ROTATED, "org-r", done)

    rest = await reencrypt.reencrypt_org(db, ROTATED, "org-r")

    assert (interrupted.reencrypted, rest.reencrypted, rest.current, rest.failed) == (1, 1, 1, 0)
    assert await texts(db, V2_ONLY, "org-r", pending) == [f"note of {pending}"]
    assert await texts(db, V1_ONLY, "org-s", other) == [f"note of {other}"]


async def test_a_value_that_fails_to_open_is_counted_and_the_cli_says_so(
    stack: Stack, scratch_db: Db
) -> None:
    db, org = scratch_db, "org-lost"
    case_id = await new_case(db, org)
    await note(db, V1_ONLY, org, case_id, "sealed with a key since lost")
    await note(db, ROTATED, org, case_id, "fine")

    done = run_cli(stack, db, f"v2:{B64_V2}", org)

    assert done.returncode == 1
    assert f"{org}: 0 re-encrypted, 1 already current, 1 failed" in done.stdout
    assert f"note 0 of case {case_id} of {org} cannot be opened" in done.stderr
    assert "sealed with key v1, which is not in the keyring" in done.stderr


class WriterInBetween(OrgCollection):
    """Another writer lands between the run's read and its conditional write (once)."""

    def __init__(self, inner: OrgCollection, meanwhile: Callable[[], Awaitable[None]]) -> None:
        super().__init__(inner.raw, inner.org)
        self.meanwhile: Callable[[], Awaitable[None]] | None = meanwhile

    async def find_one_and_update(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        if self.meanwhile:
            meanwhile, self.meanwhile = self.meanwhile, None
            await meanwhile()
        return await super().find_one_and_update(*args, **kwargs)


async def test_a_value_changed_during_the_run_is_read_again_not_overwritten(
    stack: Stack, scratch_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, org = scratch_db, "org-busy"
    case_id = await new_case(db, org)
    await note(db, V1_ONLY, org, case_id, "first")
    await note(db, V1_ONLY, org, case_id, "second")
    await save_webhook_secret(db, V1_ONLY, org, "whsec_old")

    async def admin_replaces_the_endpoint() -> None:
        await save_webhook_secret(db, ROTATED, org, "whsec_new")

    async def another_run_and_a_responder() -> None:
        resealed = ROTATED.seal(org, case_id, "first, as the other run sealed it")
        await db.cases.update_one({"_id": case_id}, {"$set": {f"{store.NOTES}.0.sealed": resealed}})
        await note(db, ROTATED, org, case_id, "added during the run")

    cases = WriterInBetween(store.cases(db, org), another_run_and_a_responder)
    hooks = WriterInBetween(store.webhooks(db, org), admin_replaces_the_endpoint)
    monkeypatch.setattr(store, "cases", lambda *_: cases)
    monkeypatch.setattr(store, "webhooks", lambda *_: hooks)
    tally = await reencrypt.reencrypt_org(db, ROTATED, org)
    monkeypatch.undo()

    assert await texts(db, V2_ONLY, org, case_id) == [
        "first, as the other run sealed it",
        "second",
        "added during the run",
    ]
    assert await webhook_secret(db, V2_ONLY, org) == "whsec_new"
    assert (tally.reencrypted, tally.current, tally.failed) == (1, 3, 0)


async def test_the_safety_plan_and_an_other_referral_move_to_the_new_key_too(
    stack: Stack, scratch_db: Db
) -> None:
    db, org = scratch_db, "org-plan"
    case_id = await new_case(db, org)
    plan = {"updated_at": service.utcnow(), "updated_by": "resp-1"}
    sealed_plan = V1_ONLY.seal(org, case_id, '{"warning_signs": ["stops answering"]}')
    other = V1_ONLY.seal(org, case_id, "county mobile crisis team")
    update = {"$set": {"safety_plan": {**plan, "sealed": sealed_plan}, "referral_other": other}}
    await store.cases(db, org).find_one_and_update({"_id": case_id}, update)

    done = run_cli(stack, db, f"v2:{B64_V2},v1:{B64_V1}", org)
    assert done.returncode == 0, done.stderr
    assert f"{org}: 2 re-encrypted, 0 already current, 0 failed" in done.stdout
    read = await service.read_safety_plan(db, V2_ONLY, org, case_id, "resp-1", service.utcnow())
    assert read is not None and read["warning_signs"] == ["stops answering"]
    doc = await store.cases(db, org).find_one({"_id": case_id})
    assert (
        doc is not None and V2_ONLY.open(org, case_id, doc["referral_other"]) == "county mobile crisis team"
    )
