"""Pull fetches that report "no messages" the one way FastStream's pull loop understands.

nats-py 2.16 `PullSubscription.fetch` of a batch first sends a no-wait request with `expires` set
to the whole fetch timeout; the server holds that request until it expires, so its answer (408)
lands right at the client's own deadline. When it lands just before, nats-py finds the time used up
and raises a plain `TimeoutError` (js/client.py `_fetch_n`) instead of `nats.errors.TimeoutError`,
the one its `next_msg` raises everywhere else. FastStream's pull loop suppresses only the latter, so
the plain one ends the loop: FastStream's supervisor logs it with a traceback (once per process and
hour, hence one on every start) and starts the loop again. Nothing is lost, but every start logs
an error that is not one, and a real error of the same loop would read the same way.

The wrapper also keeps the fetched messages not yet acknowledged, so that a stopping service hands
back those it will not handle (`release_unhandled`). FastStream's stop lets the messages in hand
finish, but a message fetched and still waiting (in a batch, or for a worker of a subscriber with
`max_workers`) is dropped without an answer: JetStream redelivers it only after the ack wait, so in
a rolling deploy during a surge those alerts waited 15 s longer to be opened.
"""

import contextlib
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

Fetch = Callable[..., Awaitable[list[Msg]]]
_MARK = "_rn_nats_timeouts"
log = logging.getLogger(__name__)
# Per pull subscription, the messages it fetched that have had no answer yet, by id() (a Msg is a
# dataclass, so it is not hashable).
_unanswered: weakref.WeakKeyDictionary[JetStreamContext.PullSubscription, dict[int, Msg]] = (
    weakref.WeakKeyDictionary()
)


def with_nats_timeouts(fetch: Fetch) -> Fetch:
    """`fetch`, raising `nats.errors.TimeoutError` where it raised a plain `TimeoutError`.

    Only the exact built-in class is translated: every other error, including nats-py's own
    timeout (already the right class) and connection errors, passes unchanged.
    """

    @functools.wraps(fetch)
    async def fetch_with_nats_timeouts(*args: Any, **kwargs: Any) -> list[Msg]:
        try:
            fetched = await fetch(*args, **kwargs)
        except TimeoutError as exc:
            if type(exc) is not TimeoutError:
                raise
            raise nats.errors.TimeoutError from exc
        if args and isinstance(args[0], JetStreamContext.PullSubscription):
            _hold(args[0], fetched)
        return fetched

    setattr(fetch_with_nats_timeouts, _MARK, True)
    return fetch_with_nats_timeouts


def install() -> None:
    """Wrap `PullSubscription.fetch` once per process; later calls change nothing."""
    pull = JetStreamContext.PullSubscription
    if not getattr(pull.fetch, _MARK, False):
        # setattr: mypy refuses assigning to a method, which is exactly what this does on purpose.
        setattr(pull, "fetch", with_nats_timeouts(pull.fetch))  # noqa: B010


def _hold(subscription: JetStreamContext.PullSubscription, fetched: list[Msg]) -> None:
    held = _unanswered.setdefault(subscription, {})
    for answered in [key for key, msg in held.items() if msg.is_acked]:
        del held[answered]
    held.update((id(msg), msg) for msg in fetched)


async def release_unhandled(subscriptions: Iterable[JetStreamContext.PullSubscription]) -> int:
    """Nak (without delay) every message these subscriptions fetched that has had no answer, so
    JetStream delivers it at once to another replica, or to this service once it is back; returns how
    many. For a stopping service: after its subscribers stopped, before its connection closes."""
    waiting = [msg for sub in subscriptions for msg in _unanswered.pop(sub, {}).values() if not msg.is_acked]
    for msg in waiting:
        with contextlib.suppress(Exception):  # the connection may be gone: then the ack wait does it
            await msg.nak()
    if waiting:
        log.info("%d messages fetched and not handled, handed back", len(waiting))
    return len(waiting)
