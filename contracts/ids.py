"""Sortable ids (UUIDv7): time-ordered, so ids double as a rough creation order."""

import hashlib
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def new_id() -> str:
    """A UUIDv7 string (RFC 9562): 48-bit Unix milliseconds, then random bits."""
    return _uuid7(time.time_ns() // 1_000_000, int.from_bytes(os.urandom(10), "big"))


def id_for(at: datetime, key: str) -> str:
    """A UUIDv7 for `at` whose random bits come from `key`: the same every time it is made again.

    For an event rebuilt from what it announces (a stored document) after a crash: it keeps its id,
    so JetStream's duplicate detection drops a copy, with nothing stored to remember the id by.
    """
    millis = (at - EPOCH) // timedelta(milliseconds=1)  # exact: a float would round 0.123 down
    return _uuid7(millis, int.from_bytes(hashlib.sha256(key.encode()).digest()[:10], "big"))


def _uuid7(millis: int, rand: int) -> str:
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 68) << 64 & (0xFFF << 64)  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b
    return str(uuid.UUID(int=value))
