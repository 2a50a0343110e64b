"""Each service's NATS user may publish only its own domain's subjects."""

import nats
import nats.aio.client
import pytest
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import APIError

from deploy.local.natsconf import org_user
from deploy.local.stack import Stack
from shared.messaging.broker import inbox_prefix
from tests.helpers import eventually


async def test_a_service_cannot_publish_another_domains_events(stack: Stack) -> None:
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    nc = await nats.connect(
        stack.nats_url,
        user="meetings",
        password=stack.passwords["meetings"],
        inbox_prefix=inbox_prefix("meetings"),
        error_cb=on_error,
    )
    try:
        js = nc.jetstream()
        ack = await js.publish("rn.org-a.meetings.probe.v1", b"{}", timeout=2)
        assert ack.stream == "MEETINGS"
        with pytest.raises((NatsTimeout, NoRespondersError, APIError)):
            await js.publish("rn.org-a.crisis.escalated.v1", b"{}", timeout=1)
        await nc.flush()
        assert any("permissions violation" in str(e).lower() for e in errors), errors
    finally:
        await nc.close()


async def test_a_wrong_password_is_refused(stack: Stack) -> None:
    with pytest.raises(Exception, match=r"[Aa]uthorization"):
        await nats.connect(
            stack.nats_url, user="crisis", password="guess", max_reconnect_attempts=0, allow_reconnect=False
        )


async def test_an_organizations_read_only_user_hears_its_own_crisis_subjects_and_nothing_else(
    stack: Stack, admin_nc: nats.aio.client.Client
) -> None:
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    user = org_user("org-a")
    nc = await nats.connect(stack.nats_url, user=user, password=stack.passwords[user], error_cb=on_error)
    try:
        own = await nc.subscribe("rn.org-a.crisis.>")
        await nc.flush()
        await admin_nc.publish("rn.org-a.crisis.escalated.v1", b'{"probe": 1}')
        msg = await own.next_msg(timeout=5)
        assert msg.subject == "rn.org-a.crisis.escalated.v1"

        for forbidden in ("rn.org-b.crisis.>", "rn.org-a.mentoring.>", "rn.*.crisis.>"):
            errors.clear()
            sub = await nc.subscribe(forbidden)
            await nc.flush()
            await admin_nc.publish(forbidden.replace(">", "escalated.v1").replace("*", "org-b"), b"{}")
            with pytest.raises(NatsTimeout):
                await sub.next_msg(timeout=0.5)
            assert any("permissions violation" in str(e).lower() for e in errors), (forbidden, errors)

        errors.clear()
        await nc.publish("rn.org-a.crisis.escalated.v1", b"{}")
        await nc.flush()

        # nats-py hands the server's -ERR to error_cb in a task of its own, which may run after flush.
        async def refused() -> bool:
            return any("permissions violation" in str(e).lower() for e in errors)

        await eventually(refused, within=5)
    finally:
        await nc.close()


async def test_a_service_cannot_read_another_services_replies(stack: Stack) -> None:
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    nc = await nats.connect(
        stack.nats_url, user="meetings", password=stack.passwords["meetings"], error_cb=on_error
    )
    crisis = await nats.connect(
        stack.nats_url,
        user="crisis",
        password=stack.passwords["crisis"],
        inbox_prefix=inbox_prefix("crisis"),
    )
    try:
        spy = await nc.subscribe("_INBOX.>")
        spy_crisis = await nc.subscribe(f"{inbox_prefix('crisis')}.>")
        await nc.flush()

        async def refused() -> bool:
            return sum("permissions violation" in str(e).lower() for e in errors) >= 2

        await eventually(refused, within=5)
        # crisis's own JetStream request still gets its answer, and the spy hears none of it.
        ack = await crisis.jetstream().publish("rn.org-a.crisis.probe.v1", b"{}", timeout=2)
        assert ack.stream == "CRISIS"
        for sub in (spy, spy_crisis):
            with pytest.raises(NatsTimeout):
                await sub.next_msg(timeout=0.5)
    finally:
        await nc.close()
        await crisis.close()


def test_the_server_config_and_passwords_are_readable_by_their_owner_only(stack: Stack) -> None:
    for name in ("nats.conf", "nats-passwords.json", "otlp-ingest-token"):
        mode = (stack.data_dir / name).stat().st_mode & 0o777
        assert mode == 0o600, (name, oct(mode))
