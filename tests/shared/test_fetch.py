"""Pull fetches report "no messages" as nats.errors.TimeoutError, which FastStream's pull loop expects."""

from typing import Any

import nats.errors
import pytest
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from shared.messaging import fetch


def raising(exc: BaseException) -> fetch.Fetch:
    async def failing_fetch(*_args: Any, **_kwargs: Any) -> list[Msg]:
        raise exc

    return failing_fetch


async def test_a_plain_timeout_from_a_fetch_becomes_the_nats_timeout() -> None:
    with pytest.raises(nats.errors.TimeoutError):
        await fetch.with_nats_timeouts(raising(TimeoutError()))()


@pytest.mark.parametrize(
    "error",
    [nats.errors.TimeoutError(), nats.errors.ConnectionClosedError(), ValueError("nats: invalid batch size")],
)
async def test_every_other_error_of_a_fetch_passes_unchanged(error: Exception) -> None:
    with pytest.raises(type(error)) as raised:
        await fetch.with_nats_timeouts(raising(error))()
    assert raised.value is error


async def test_fetched_messages_pass_unchanged() -> None:
    messages = [Msg(_client=None, subject="rn.a.meetings.scheduled.v1")]  # type: ignore[arg-type]

    async def fetch_some(batch: int) -> list[Msg]:
        return messages[:batch]

    assert await fetch.with_nats_timeouts(fetch_some)(16) == messages


async def test_installed_pull_subscriptions_raise_the_nats_timeout_when_nothing_came() -> None:
    fetch.install()
    fetch.install()  # a second service subscriber must not wrap it twice
    subscription = object.__new__(JetStreamContext.PullSubscription)
    subscription._sub = object()  # type: ignore[assignment]

    async def time_ran_out(*_args: Any) -> list[Msg]:
        raise TimeoutError  # what nats-py's _fetch_n raises when the server's 408 lands at the deadline

    subscription._fetch_n = time_ran_out  # type: ignore[method-assign,assignment]
    with pytest.raises(nats.errors.TimeoutError) as raised:
        await subscription.fetch(batch=16, timeout=1.0)
    assert type(raised.value.__cause__) is TimeoutError
    inner = getattr(JetStreamContext.PullSubscription.fetch, "__wrapped__")  # noqa: B009
    assert not hasattr(inner, "__wrapped__"), "wrapped twice"
