"""The regional team's escalation says which organization each member from elsewhere belongs to
(`responder_orgs`), read from the crisis staff on the real document store: notifications reaches them
through that organization's record of them."""

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from contracts.crisis import CrisisEscalated, CrisisFollowUpScheduled
from services.crisis import model, service
from shared.auth.principal import Principal, Role
from shared.network import Network

Db = AsyncDatabase[dict[str, Any]]
NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
NETWORK = Network.model_validate(
    {
        "regions": [{"id": "lakeshore", "name": "Lakeshore"}],
        "organizations": [
            {"id": "org-a", "name": "A", "region": "lakeshore"},
            {"id": "org-b", "name": "B", "region": "lakeshore"},
        ],
    }
)


async def escalated(db: Db, org: str, protocol: model.Protocol) -> CrisisEscalated:
    _, events = model.raise_case(
        org=org, member_id="m1", severity="high", channel="member", dedup_key="m1",
        protocol=protocol, reach=await service.load_reach(db, NETWORK, org), now=NOW,
    )  # fmt: skip
    event = events[-1]
    assert isinstance(event, CrisisEscalated), events
    return event


async def test_the_regional_teams_escalation_names_the_organization_of_each_member_from_elsewhere(
    scratch_db: Db,
) -> None:
    await service.save_staff(scratch_db, "org-a", "reg-a", ["regional_responder"])
    await service.save_staff(scratch_db, "org-b", "reg-b", ["regional_responder"])
    # On A's team as A's regional responder, and on B's own staff too: B's record is theirs in B.
    await service.save_staff(scratch_db, "org-a", "both", ["regional_responder"])
    await service.save_staff(scratch_db, "org-b", "both", ["responder"])
    await service.save_staff(scratch_db, "org-b", "coord-b", ["coordinator"])
    team = ["reg-a", "reg-b", "both"]
    await service.save_regional_team(scratch_db, NETWORK, "lakeshore", team, changed_by="net-admin")

    to_team = model.Protocol(catch_all="regional_team")
    of_b = await escalated(scratch_db, "org-b", to_team)
    assert (of_b.data.catch_all, of_b.data.responder_ids) == ("regional_team", team)
    assert of_b.data.responder_orgs == {"reg-a": "org-a"}
    of_a = await escalated(scratch_db, "org-a", to_team)
    assert of_a.data.responder_orgs == {"reg-b": "org-b"}
    # B's own people, at B's own levels or its coordinator catch-all: nobody from elsewhere.
    own = await escalated(scratch_db, "org-b", model.Protocol(levels=(model.Level(responder_ids=("both",)),)))
    assert own.data.responder_ids == ["both"] and own.data.responder_orgs is None


async def test_a_caring_contact_owed_by_a_member_from_elsewhere_names_their_organization_and_region(
    scratch_db: Db,
) -> None:
    """A's regional responder resolved B's case: the reminder of the caring contact they owe says
    they are A's (and the region), so notifications reaches them as A's; B's own staff are B's."""
    await service.save_staff(scratch_db, "org-a", "reg-a", ["regional_responder"])
    await service.save_staff(scratch_db, "org-a", "both", ["regional_responder"])
    await service.save_staff(scratch_db, "org-b", "both", ["responder"])
    await service.save_staff(scratch_db, "org-b", "coord-b", ["coordinator"])
    await service.save_regional_team(
        scratch_db, NETWORK, "lakeshore", ["reg-a", "both"], changed_by="net-admin"
    )

    def regional(sub: str) -> Principal:
        return Principal(
            sub=sub, org="org-a", roles=frozenset({Role.REGIONAL_RESPONDER}), regions=frozenset({"lakeshore"})
        )

    assert await service.responder_org(scratch_db, "org-b", regional("reg-a")) == "org-a"
    assert await service.responder_org(scratch_db, "org-b", regional("both")) is None  # on B's staff too
    own = Principal(sub="coord-b", org="org-b", roles=frozenset({Role.COORDINATOR}))
    assert await service.responder_org(scratch_db, "org-b", own) is None

    reach = await service.load_reach(scratch_db, NETWORK, "org-b")
    for resolver, org, region in (("reg-a", "org-a", "lakeshore"), ("coord-b", None, None)):
        case, _ = model.raise_case(
            org="org-b", member_id="m1", severity="high", channel="member", dedup_key="m1",
            protocol=model.Protocol(catch_all="regional_team"), reach=reach, now=NOW,
        )  # fmt: skip
        *_, follow_up = model.resolve(
            case, responder_id=resolver, outcome="safe", referral="none", partner_id=None, now=NOW,
            responder_org=org,
        )  # fmt: skip
        assert isinstance(follow_up, CrisisFollowUpScheduled)
        assert (follow_up.data.responder_org, follow_up.data.region) == (org, region)
