"""A poisoned subject does not stop the running notifications service."""

import json

import httpx
import pytest
from nats.aio.client import Client as NatsClient

from contracts.crisis import CrisisEscalated, CrisisEscalatedData
from deploy.local.stack import Stack
from shared.auth.principal import Role
from shared.messaging.deadletter import list_dead_letters
from tests.conftest import Tokens
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


async def test_malformed_and_wrong_version_escalations_are_dead_lettered_and_the_next_one_still_arrives(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient, admin_nc: NatsClient
) -> None:
    js = admin_nc.jetstream()
    subject = "rn.org-b.crisis.escalated.v1"
    good = CrisisEscalated.create(
        source="crisis",
        org="org-b",
        subject="case-dl",
        data=CrisisEscalatedData(
            case_id="case-dl", level=1, severity="moderate", responder_ids=["responder-dl"]
        ),
    )
    v2 = {**good.model_dump(mode="json"), "id": "v2-copy", "type": "crisis.escalated.v2"}
    wrong_org = {**good.model_dump(mode="json"), "id": "wrong-org", "org": "org-a"}
    await js.publish(subject, b"\x00garbage", headers={"Nats-Msg-Id": "dl-garbage"})
    await js.publish(subject, json.dumps(v2).encode(), headers={"Nats-Msg-Id": "dl-v2"})
    await js.publish(subject, json.dumps(wrong_org).encode(), headers={"Nats-Msg-Id": "dl-wrong-org"})
    await js.publish(subject, good.model_dump_json().encode(), headers={"Nats-Msg-Id": good.id})

    responder = tokens("responder-dl", "org-b", Role.RESPONDER)

    async def inbox() -> list:
        return (await http.get(f"{network.url('notifications')}/me/notifications", headers=responder)).json()

    assert len(await eventually(inbox)) == 1

    async def letters() -> list:
        found = [d for d in await list_dead_letters(js, "notifications") if d.original_subject == subject]
        return found if len(found) >= 3 else []

    reasons = {d.reason for d in await eventually(letters)}
    assert any("not JSON" in r for r in reasons)
    assert any("type" in r for r in reasons)
    assert any("does not match the subject" in r for r in reasons)
    # Reasons name fields and error kinds, never message contents.
    assert not any("responder-dl" in r for r in reasons)
