"""Notifications across the running network: an escalation reaches a responder by SMS, email and
in-app; a failing SMS provider shows in the attempt log while email carries the message; a crisis
message whose only chosen channel, SMS, fails falls back to email, and says so on the stream; a
low-priority message in quiet hours waits (across a kill -9 of notifications) and comes after them;
a redelivered event and a second replica send nothing twice; bad contacts are refused with problem
details.

Real nats-server, document store, Mailpit (SMTP) and the local SMS provider, all as processes.
"""

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from contracts.crisis import (
    CrisisEscalated,
    CrisisEscalatedData,
    CrisisFollowUpScheduled,
    CrisisFollowUpScheduledData,
)
from contracts.envelope import Event
from contracts.mentoring import MilestoneReached, MilestoneReachedData
from deploy.local.stack import Stack, free_port
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.helpers import Mailpit, SmsReceiver, eventually, joined, put_staff

pytestmark = pytest.mark.e2e

ORG = "notify-a"
LONG = 240  # minutes: the ladder does not move on while a test looks


@pytest.fixture
def org(network: Stack) -> Iterator[Stack]:
    with joined(network.network_file, [], [{"id": ORG, "name": ORG, "region": "lakeshore"}]):
        yield network


async def set_contact(
    http: httpx.AsyncClient, url: str, who: dict[str, str], **contact: Any
) -> dict[str, Any]:
    r = await http.put(f"{url}/me/contact", json=contact, headers=who)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def publish(nc: NatsClient, event: Event, msg_id: str | None = None) -> None:
    """As the producing service would, or as a redelivery does (another message id, the same event)."""
    ack = await nc.jetstream().publish(
        event.nats_subject(), event.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id or event.id}
    )
    assert not ack.duplicate


async def inbox(http: httpx.AsyncClient, url: str, who: dict[str, str]) -> list[dict[str, Any]]:
    r = await http.get(f"{url}/me/notifications", headers=who)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_an_escalation_reaches_the_responder_by_sms_email_and_in_app(
    org: Stack, tokens: Tokens, http: httpx.AsyncClient, mailpit: Mailpit, sms: SmsReceiver
) -> None:
    crisis, notifications = org.url("crisis"), org.url("notifications")
    admin, responder = tokens("n-admin", ORG, Role.ORG_ADMIN), tokens("n-resp-1", ORG, Role.RESPONDER)
    phone, email = "+13125550101", "n-resp-1@example.org"
    # The admin sets the responder's phone; the responder their own email, in Spanish.
    r = await http.put(
        f"{notifications}/org/people/n-resp-1/contact", json={"phone": "+1 312 555 0101"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["phone"] == phone, r.text
    r = await http.get(f"{notifications}/me/contact", headers=responder)
    assert r.json()["phone"] == phone
    await set_contact(
        http, notifications, responder, email=email, phone=phone, language="es", timezone="America/Chicago"
    )

    await put_staff(http, crisis, admin, {"n-resp-1": ["responder"], "n-admin": ["coordinator"]})
    level = {"responder_ids": ["n-resp-1"], "timeout_minutes": LONG}
    protocol = {"levels": [level], "catch_all": "coordinator", "catch_all_timeout_minutes": LONG,
                "ack_timeout_minutes": LONG}  # fmt: skip
    r = await http.put(f"{crisis}/crisis/protocol", json=protocol, headers=admin)
    assert r.status_code == 204, r.text
    member = tokens("n-member-1", ORG, Role.MEMBER)
    r = await http.post(f"{crisis}/crisis/alerts", json={"severity": "high"}, headers=member)
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]

    (text,) = await sms.wait_for(phone)
    assert text["body"].startswith("Escalamiento de crisis: nivel 1")
    assert f"{crisis}/crisis/console#case-{case_id}" in text["body"]
    (summary,) = await mailpit.wait_for(email)
    mail = await mailpit.message(summary["ID"])
    assert mail["Subject"] == text["body"].split(" http")[0]
    assert f'href="{crisis}/crisis/console#case-{case_id}"' in mail["HTML"]
    assert "Abra el caso" in mail["Text"]
    (note,) = await eventually(lambda: inbox(http, notifications, responder))
    assert (note["priority"], note["category"]) == ("critical", "crisis")
    # The provider's signed status callback marks the SMS delivered; every channel is in the log.
    attempts_url = f"{notifications}/org/notifications/{note['id']}/attempts"

    async def settled() -> list[tuple[str, str]]:
        found = [(a["channel"], a["outcome"]) for a in (await http.get(attempts_url, headers=admin)).json()]
        return found if ("sms", "delivered") in found else []

    assert set(await eventually(settled)) == {
        ("sms", "accepted"),
        ("sms", "delivered"),
        ("email", "delivered"),
    }
    # Nobody of another organization reads the log.
    other_admin = tokens("n-admin", "org-b", Role.ORG_ADMIN)
    assert (await http.get(attempts_url, headers=other_admin)).status_code == 404


def escalation(responders: list[str], case_id: str, **data: Any) -> CrisisEscalated:
    fields = {"case_id": case_id, "level": 1, "severity": "high", "responder_ids": responders, **data}
    return CrisisEscalated.create(
        source="crisis", org=ORG, subject=case_id, data=CrisisEscalatedData.model_validate(fields)
    )


async def test_the_sms_provider_failing_shows_in_the_attempt_log_while_email_carries_the_message(
    org: Stack,
    tokens: Tokens,
    http: httpx.AsyncClient,
    admin_nc: NatsClient,
    mailpit: Mailpit,
    sms: SmsReceiver,
) -> None:
    notifications = org.url("notifications")
    responder, admin = tokens("n-resp-2", ORG, Role.RESPONDER), tokens("n-admin", ORG, Role.ORG_ADMIN)
    phone, email = "+13125550102", "n-resp-2@example.org"
    await set_contact(http, notifications, responder, email=email, phone=phone)
    await sms.fail_next(500, count=1)
    await publish(admin_nc, escalation(["n-resp-2"], "case-sms-500"))

    await mailpit.wait_for(email)
    (note,) = await eventually(lambda: inbox(http, notifications, responder))
    attempts_url = f"{notifications}/org/notifications/{note['id']}/attempts"

    async def retried() -> list[dict[str, Any]]:
        found = (await http.get(attempts_url, headers=admin)).json()
        return found if any(a["channel"] == "sms" and a["outcome"] == "accepted" for a in found) else []

    log = await eventually(retried, within=30)
    outcomes = [(a["channel"], a["attempt"], a["outcome"], a["reason"]) for a in log]
    assert ("sms", 1, "failed", "http 500") in outcomes
    assert ("sms", 2, "accepted", None) in outcomes
    assert ("email", 1, "delivered") in [(a["channel"], a["attempt"], a["outcome"]) for a in log]
    # The retry, a few seconds later, went through: one SMS, one email, whatever failed before.
    assert len(await sms.wait_for(phone)) == 1
    assert len(await mailpit.messages(to=email)) == 1


async def test_a_crisis_message_whose_only_channel_fails_falls_back_to_email(
    org: Stack,
    tokens: Tokens,
    http: httpx.AsyncClient,
    admin_nc: NatsClient,
    mailpit: Mailpit,
    sms: SmsReceiver,
) -> None:
    """A high-priority crisis message follows preferences (SMS only, here): email is not one of its
    channels, so only the fallback from the failed SMS can bring it to the mailbox."""
    notifications = org.url("notifications")
    responder, admin = tokens("n-resp-fb", ORG, Role.RESPONDER), tokens("n-admin", ORG, Role.ORG_ADMIN)
    phone, email = "+13125550103", "n-resp-fb@example.org"
    await set_contact(http, notifications, responder, email=email, phone=phone)
    r = await http.put(
        f"{notifications}/me/preferences", json={"channels": {"crisis": ["sms"]}}, headers=responder
    )
    assert r.status_code == 200, r.text
    failed: list[dict[str, Any]] = []

    async def on_failed(msg: Msg) -> None:
        failed.append(json.loads(msg.data))

    sub = await admin_nc.jetstream().subscribe(
        f"rn.{ORG}.notifications.failed.v1",
        stream="NOTIFICATIONS",
        cb=on_failed,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.NEW,
    )
    try:
        await sms.fail_next(500, count=1)
        data = CrisisFollowUpScheduledData(
            case_id="case-fallback", responder_id="n-resp-fb", member_id="n-member-fb",
            due_by=datetime.now(UTC) + timedelta(hours=24),
        )  # fmt: skip
        await publish(
            admin_nc,
            CrisisFollowUpScheduled.create(source="crisis", org=ORG, subject="case-fallback", data=data),
        )

        (summary,) = await mailpit.wait_for(email)
        assert summary["Subject"].startswith("Caring contact due by")
        (note,) = await eventually(lambda: inbox(http, notifications, responder))
        assert (note["category"], note["priority"]) == ("crisis", "high")
        attempts_url = f"{notifications}/org/notifications/{note['id']}/attempts"

        async def emailed() -> list[tuple[str, int, str, str | None]]:
            log = (await http.get(attempts_url, headers=admin)).json()
            found = [(a["channel"], a["attempt"], a["outcome"], a["reason"]) for a in log]
            return found if ("email", 1, "delivered", None) in found else []

        log = await eventually(emailed)
        # Oldest first: the SMS failed, and only then did email carry the message.
        assert log.index(("sms", 1, "failed", "http 500")) < log.index(("email", 1, "delivered", None))

        async def reported() -> list[dict[str, Any]]:
            return [e["data"] for e in failed if e["data"]["notification_id"] == note["id"]]

        (report,) = await eventually(reported)
        assert (report["channel"], report["attempt"], report["reason"]) == ("sms", 1, "http 500")
        assert (report["fallback"], report["final"]) == ("email", False)
        assert (report["recipient_id"], report["category"]) == ("n-resp-fb", "crisis")
    finally:
        await sub.unsubscribe()


async def test_a_redelivered_event_and_a_second_replica_send_nothing_twice(
    org: Stack,
    tokens: Tokens,
    http: httpx.AsyncClient,
    admin_nc: NatsClient,
    mailpit: Mailpit,
    sms: SmsReceiver,
) -> None:
    notifications = org.url("notifications")
    replica = org.start_replica("notifications", free_port())
    try:
        responders = [f"n-many-{i}" for i in range(4)]
        for i, person in enumerate(responders):
            await set_contact(http, notifications, tokens(person, ORG, Role.RESPONDER),
                              email=f"{person}@example.org", phone=f"+1312555011{i}")  # fmt: skip
        event = escalation(responders, "case-twice")
        # The same event three times (a producer's retry after the duplicate window, a redelivery):
        # JetStream keeps all three, the two replicas share them out.
        for n in range(3):
            await publish(admin_nc, event, msg_id=f"{event.id}-{n}")
        for i, person in enumerate(responders):
            await sms.wait_for(f"+1312555011{i}")
            await mailpit.wait_for(f"{person}@example.org")
        await asyncio.sleep(3)  # time for any second copy to show
        for i, person in enumerate(responders):
            assert len(await sms.messages(f"+1312555011{i}")) == 1, person
            assert len(await mailpit.messages(to=f"{person}@example.org")) == 1, person
            assert len(await inbox(http, notifications, tokens(person, ORG, Role.RESPONDER))) == 1, person
    finally:
        org.kill(replica)


async def test_a_regional_responders_own_phone_gets_another_organizations_team_escalation(
    org: Stack, tokens: Tokens, http: httpx.AsyncClient, admin_nc: NatsClient, sms: SmsReceiver
) -> None:
    notifications = org.url("notifications")
    regional = tokens("n-regional", "org-a", Role.REGIONAL_RESPONDER, regions=("lakeshore",))
    await set_contact(http, notifications, regional, phone="+13125550130")
    await publish(
        admin_nc, escalation(["n-regional"], "case-team", catch_all="regional_team", region="lakeshore")
    )
    await sms.wait_for("+13125550130")
    assert len(await eventually(lambda: inbox(http, notifications, regional))) == 1
    # A member of the case's organization, and a responder there, see none of it.
    for who in (tokens("n-member-9", ORG, Role.MEMBER), tokens("n-resp-9", ORG, Role.RESPONDER)):
        assert await inbox(http, notifications, who) == []


async def test_a_low_priority_message_in_quiet_hours_waits_across_a_kill_and_arrives_after_them(
    org: Stack, tokens: Tokens, http: httpx.AsyncClient, admin_nc: NatsClient, mailpit: Mailpit
) -> None:
    notifications = org.url("notifications")
    mentor = tokens("n-mentor", ORG, Role.MENTOR)
    email = "n-mentor@example.org"
    await set_contact(http, notifications, mentor, email=email, timezone="UTC")
    # Quiet hours end on a whole minute: the next one, unless it comes before the test has looked
    # (about 2 s of work; 8 s leaves room on a busy machine). 15 s made the wait 7 s longer on average.
    now = datetime.now(UTC)
    end = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if end - now < timedelta(seconds=8):
        end += timedelta(minutes=1)
    quiet = {"start": (now - timedelta(hours=1)).strftime("%H:%M"), "end": end.strftime("%H:%M")}
    r = await http.put(f"{notifications}/me/preferences", json={"quiet_hours": quiet}, headers=mentor)
    assert r.status_code == 200, r.text
    # A low-priority message (a mentee shared a milestone with their mentor); the mentor keeps no
    # digest, so quiet hours hold its email rather than a digest taking it.
    data = MilestoneReachedData(
        member_id="n-mentee", milestone="30d", reached_on=now.date(), audience="mentor",
        recipient_ids=["n-mentor"],
    )  # fmt: skip
    shared = MilestoneReached.create(source="mentoring", org=ORG, subject="n-mentee", data=data)
    await publish(admin_nc, shared)

    (note,) = await eventually(lambda: inbox(http, notifications, mentor))  # at once, silently
    assert (note["category"], note["priority"]) == ("milestones", "low")
    assert await mailpit.messages(to=email) == []
    org.kill("notifications")  # the deferral is in the database, not in this process
    org.respawn("notifications")
    assert await mailpit.messages(to=email) == []
    (summary,) = await mailpit.wait_for(email, timeout=90)
    assert datetime.fromisoformat(summary["Created"]) >= end
    assert summary["Subject"] == "A person you mentor reached 30 days"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/me/contact", {"phone": "555-0100"}, "phone"),
        ("/me/contact", {"phone": "+1 555 0100 000"}, "phone"),
        ("/me/contact", {"email": "not an address"}, "email"),
        ("/me/contact", {"timezone": "Mars/Olympus"}, "timezone"),
        ("/me/contact", {"language": "fr"}, "language"),
        ("/me/preferences", {"channels": {"gossip": ["email"]}}, "channels"),
        ("/me/preferences", {"channels": {"meetings": ["pigeon"]}}, "channels"),
        ("/me/preferences", {"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours"),
        ("/me/preferences", {"digest": {"categories": ["meetings"], "hour": 24}}, "digest"),
    ],
)
async def test_bad_contacts_and_preferences_are_refused_with_problem_details(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    r = await http.put(
        f"{network.url('notifications')}{path}", json=body, headers=tokens("n-x", "org-a", Role.MEMBER)
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert any(field in ".".join(map(str, e["loc"])) for e in r.json()["errors"]), r.json()


async def test_an_org_admin_sets_their_own_organizations_record_and_never_anothers(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    url = network.url("notifications")
    staff_b = tokens("n-staff-b", "org-b", Role.RESPONDER)
    await set_contact(http, url, staff_b, phone="+13125550140")
    admin_a = tokens("n-admin", "org-a", Role.ORG_ADMIN)
    r = await http.put(f"{url}/org/people/n-staff-b/contact", json={"phone": "+13125550141"}, headers=admin_a)
    assert r.status_code == 200 and r.json()["phone"] == "+13125550141", r.text
    # A wrote A's record of the person; B's, the one the person set, is as they left it.
    assert (await http.get(f"{url}/me/contact", headers=staff_b)).json()["phone"] == "+13125550140"
    admin_b = tokens("n-admin-b", "org-b", Role.ORG_ADMIN)
    r = await http.get(f"{url}/org/people/n-staff-b/contact", headers=admin_b)
    assert r.json()["phone"] == "+13125550140"
    member = tokens("n-member", "org-a", Role.MEMBER)
    assert (await http.put(f"{url}/org/people/x/contact", json={}, headers=member)).status_code == 403
