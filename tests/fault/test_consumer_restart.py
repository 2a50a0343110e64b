"""Nothing lost when a consumer dies: JetStream keeps the escalation until the service is back."""

import signal

import httpx
import pytest

from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.helpers import eventually, put_staff

# On the session's network: it kills only notifications, which it starts again.
pytestmark = [pytest.mark.e2e, pytest.mark.fault]


async def test_an_escalation_raised_while_notifications_is_killed_arrives_once_after_restart(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    admin = tokens("org-b-admin", "org-b", Role.ORG_ADMIN)
    await put_staff(
        http, network.url("crisis"), admin, {"fault-responder": ["responder"], "coord-b": ["coordinator"]}
    )
    r = await http.put(
        f"{network.url('crisis')}/crisis/protocol",
        json={"levels": [{"responder_ids": ["fault-responder"]}]},
        headers=admin,
    )
    assert r.status_code == 204, r.text

    network.kill("notifications", signal.SIGKILL)
    try:
        r = await http.post(
            f"{network.url('crisis')}/crisis/alerts",
            json={"severity": "imminent"},
            headers=tokens("fault-member", "org-b", Role.MEMBER),
        )
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]
    finally:
        network.start_service("notifications")

    responder = tokens("fault-responder", "org-b", Role.RESPONDER)

    async def inbox() -> list[dict]:
        r = await http.get(f"{network.url('notifications')}/me/notifications", headers=responder)
        return [n for n in r.json() if n["link"].endswith(f"/crisis/console#case-{case_id}")]

    assert len(await eventually(inbox)) == 1
