"""Each service's NATS user may publish only its own domain's subjects."""

import nats
import pytest
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import APIError

from deploy.local.stack import Stack


async def test_a_service_cannot_publish_another_domains_events(stack: Stack) -> None:
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    nc = await nats.connect(
        stack.nats_url, user="meetings", password=stack.passwords["meetings"], error_cb=on_error
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
