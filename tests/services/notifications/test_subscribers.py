"""A message that cannot be rendered is dead-lettered at once with the reason, not retried."""

from typing import Any

import pytest

from contracts.crisis import CrisisEscalated, CrisisEscalatedData
from services.notifications import service, subscribers, templates
from services.notifications.live import Hub
from shared.messaging.deadletter import UnusableMessage


async def test_a_template_error_makes_the_message_unusable_so_the_consumer_moves_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: Any, **__: Any) -> templates.Rendered:
        raise templates.TemplateError("en/crisis_escalated: UndefinedError: 'level' is undefined")

    async def nobody(*_: Any) -> dict[str, Any]:
        return {}

    monkeypatch.setattr(templates, "render", broken)
    monkeypatch.setattr(service.store, "people", nobody)
    data = CrisisEscalatedData(case_id="c", level=1, severity="high", responder_ids=["r"])
    event = CrisisEscalated.create(source="crisis", org="org-a", subject="c", data=data)
    senders = service.Senders(adapters={}, link_bases={})
    with pytest.raises(UnusableMessage, match="'level' is undefined"):
        await subscribers.notify(None, None, senders, Hub(), event)  # type: ignore[arg-type]
