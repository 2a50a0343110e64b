"""Pull fetches that report "no messages" the one way FastStream's pull loop understands.

nats-py 2.16 `PullSubscription.fetch` of a batch first sends a no-wait request with `expires` set
to the whole fetch timeout; the server holds that request until it expires, so its answer (408)
lands right at the client's own deadline. When it lands just before, nats-py finds the time used up
and raises a plain `TimeoutError` (js/client.py `_fetch_n`) instead of `nats.errors.TimeoutError`,
the one its `next_msg` raises everywhere else. FastStream's pull loop suppresses only the latter, so
the plain one ends the loop: FastStream's supervisor logs it with a traceback (once per process and
hour, hence one on every start) and starts the loop again. Nothing is lost, but every start logs
an error that is not one, and a real error of the same loop would read the same way.
"""

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

Fetch = Callable[..., Awaitable[list[Msg]]]
_MARK = "_rn_nats_timeouts"


def with_nats_timeouts(fetch: Fetch) -> Fetch:
    """`fetch`, raising `nats.errors.TimeoutError` where it raised a plain `TimeoutError`.

    Only the exact built-in class is translated: every other error, including nats-py's own
    timeout (already the right class) and connection errors, passes unchanged.
    """

    @functools.wraps(fetch)
    async def fetch_with_nats_timeouts(*args: Any, **kwargs: Any) -> list[Msg]:
        try:
            return await fetch(*args, **kwargs)
        except TimeoutError as exc:
            if type(exc) is not TimeoutError:
                raise
            raise nats.errors.TimeoutError from exc

    setattr(fetch_with_nats_timeouts, _MARK, True)
    return fetch_with_nats_timeouts


def install() -> None:
    """Wrap `PullSubscription.fetch` once per process; later calls change nothing."""
    pull = JetStreamContext.PullSubscription
    if not getattr(pull.fetch, _MARK, False):
        # setattr: mypy refuses assigning to a method, which is exactly what this does on purpose.
        setattr(pull, "fetch", with_nats_timeouts(pull.fetch))  # noqa: B010
