import json
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from services.meetings import readmodel
from services.meetings.directory import Directory
from tests.services.meetings.test_directory import meeting


class FlakyMeetings:
    """A meetings collection that does not answer `failures` times, then finds nothing."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    async def find_one(self, _filter: dict[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise AutoReconnect("the store is restarting")


class FakeDb:
    def __init__(self, failures: int) -> None:
        self.meetings = FlakyMeetings(failures)


def cancelled(meeting_id: str) -> bytes:
    return json.dumps({"type": "meetings.cancelled.v1", "subject": meeting_id}).encode()


async def test_an_event_waits_out_a_store_that_does_not_answer_for_a_moment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("asyncio.sleep", _no_wait)
    directory = Directory()
    directory.put(meeting("m1"))
    await readmodel.apply_patiently(FakeDb(failures=3), directory, cancelled("m1"))  # type: ignore[arg-type]
    assert len(directory) == 0  # the meeting is gone from the store: gone from the directory


async def test_an_event_that_cannot_be_applied_raises_so_the_directory_loads_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("asyncio.sleep", _no_wait)
    directory = Directory()
    directory.put(meeting("m1"))
    with pytest.raises(AutoReconnect):
        await readmodel.apply_patiently(FakeDb(failures=9), directory, cancelled("m1"))  # type: ignore[arg-type]
    assert len(directory) == 1


async def test_events_that_do_not_change_a_listing_read_nothing() -> None:
    directory = Directory()
    body = json.dumps({"type": "meetings.attendance_recorded.v1", "subject": "m1"}).encode()
    await readmodel.apply(FakeDb(failures=9), directory, body)  # type: ignore[arg-type]


async def _no_wait(_seconds: float) -> None:
    return None
