import json

from contracts.catalog import EVENTS
from deploy.local.asyncapi import ASYNCAPI_DIR, generate


def test_committed_asyncapi_documents_are_current() -> None:
    generated = generate()
    for name, text in generated.items():
        path = ASYNCAPI_DIR / name
        assert path.exists(), f"{name} missing: run `make contracts`"
        assert path.read_text() == text, f"{name} is stale: run `make contracts` and commit it"


def test_every_event_is_published_by_some_service_and_every_subscription_is_listed() -> None:
    channels = " ".join(json.dumps(json.loads(t)["channels"]) for t in generate().values())
    for event in EVENTS:
        assert (
            event.subject_pattern().replace("*", "{org}") in channels or event.subject_pattern() in channels
        )
    notifications = json.loads(generate()["notifications.json"])
    addresses = {c["address"] for c in notifications["channels"].values()}
    assert "rn.*.crisis.escalated.v1" in addresses
    assert "rn.{org}.notifications.delivered.v2" in addresses
