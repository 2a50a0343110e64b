import json

import pytest

from shared.messaging.deadletter import UnusableMessage, check_envelope, retry_delay


def test_an_envelope_must_be_a_json_object_naming_its_subjects_organization() -> None:
    check_envelope("rn.org-a.crisis.escalated.v1", json.dumps({"org": "org-a"}).encode())
    for body in (b"\xff\xfe", b"not json", b"[1, 2]", json.dumps({"org": "org-b"}).encode()):
        with pytest.raises(UnusableMessage):
            check_envelope("rn.org-a.crisis.escalated.v1", body)


def test_retries_back_off_and_then_stay_at_the_longest_wait() -> None:
    backoff = (0.5, 2.0, 10.0)
    assert [retry_delay(n, backoff) for n in (1, 2, 3, 4, 9)] == [0.5, 2.0, 10.0, 10.0, 10.0]
