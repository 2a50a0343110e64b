import copy
import json

import pytest
from pydantic import ValidationError

from contracts.catalog import EVENTS
from contracts.crisis import CrisisEscalated, CrisisEscalatedData
from contracts.schema_export import SCHEMA_DIR, breaking_changes, generate
from contracts.subjects import subject_for


def test_committed_schemas_are_what_the_models_generate() -> None:
    generated = generate()
    committed = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}
    assert set(committed) == set(generated), "run `make contracts` and commit contracts/schemas"
    for name, text in generated.items():
        problems = breaking_changes(json.loads(committed[name]), json.loads(text))
        assert not problems, f"{name} changed incompatibly; publish a new version instead: {problems}"
        assert committed[name] == text, f"{name} is stale: run `make contracts` and commit it"


def test_every_event_has_its_own_type_and_subject() -> None:
    types = [e.type_name() for e in EVENTS]
    assert len(types) == len(set(types))
    for event in EVENTS:
        assert event.subject_pattern() == f"rn.*.{event.domain}.{event.name}.v{event.version}"


def _escalated_schema() -> dict:
    return json.loads(generate()["crisis.escalated.v1.json"])


def test_removing_a_field_is_breaking() -> None:
    old, new = _escalated_schema(), _escalated_schema()
    del new["$defs"]["CrisisEscalatedData"]["properties"]["level"]
    assert any("level: removed" in p for p in breaking_changes(old, new))


def test_retyping_a_field_is_breaking() -> None:
    old, new = _escalated_schema(), _escalated_schema()
    new["$defs"]["CrisisEscalatedData"]["properties"]["level"]["type"] = "string"
    assert any("level" in p and "type" in p for p in breaking_changes(old, new))


def test_a_new_required_field_is_breaking_and_a_new_optional_one_is_not() -> None:
    old = _escalated_schema()
    optional = copy.deepcopy(old)
    optional["$defs"]["CrisisEscalatedData"]["properties"]["note_id"] = {"type": "string"}
    assert breaking_changes(old, optional) == []
    required = copy.deepcopy(optional)
    required["$defs"]["CrisisEscalatedData"]["required"].append("note_id")
    assert any("note_id: became required" in p for p in breaking_changes(old, required))


def _escalation(**overrides: object) -> dict[str, object]:
    event = CrisisEscalated.create(
        source="crisis",
        org="org-a",
        subject="case-1",
        data=CrisisEscalatedData(case_id="case-1", level=1, severity="high", responder_ids=["r1"]),
    )
    return {**event.model_dump(mode="json"), **overrides}


def test_the_envelope_refuses_unknown_fields_wrong_versions_and_naive_times() -> None:
    CrisisEscalated.model_validate(_escalation())
    for bad in (
        _escalation(extra="x"),
        _escalation(type="crisis.escalated.v2"),
        _escalation(time="2026-01-01T10:00:00"),
        _escalation(org="Org A"),
    ):
        with pytest.raises(ValidationError):
            CrisisEscalated.model_validate(bad)


def test_subjects_are_built_from_valid_tokens_only() -> None:
    assert subject_for("org-a", "crisis", "escalated", 1) == "rn.org-a.crisis.escalated.v1"
    for args in (
        ("org.a", "crisis", "escalated", 1),
        ("org-a", "crisis", "esc alated", 1),
        ("org-a", "x", "y", 0),
    ):
        with pytest.raises(ValueError):
            subject_for(*args)  # type: ignore[arg-type]


def test_an_event_publishes_on_its_organizations_subject() -> None:
    event = CrisisEscalated.model_validate(_escalation())
    assert event.nats_subject() == "rn.org-a.crisis.escalated.v1"
    assert event.time.tzinfo is not None


def test_an_id_made_again_for_the_same_time_and_key_is_the_same_and_sorts_by_time() -> None:
    from datetime import UTC, datetime, timedelta

    from contracts.ids import id_for

    at = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    stored = at.replace(microsecond=123000)  # what a BSON date keeps of it
    assert id_for(at, "n1") == id_for(stored, "n1") != id_for(at, "n2")
    assert id_for(at, "n1")[14] == "7"  # a UUIDv7
    assert id_for(at, "zz") < id_for(at + timedelta(milliseconds=1), "aa")
