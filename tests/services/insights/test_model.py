from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from services.insights.model import orgs_visible_to, spans_from_otlp
from shared.auth.principal import Principal, Role
from shared.network import Network

NETWORK = Network.model_validate(
    {
        "regions": [{"id": "lakeshore", "name": "L"}, {"id": "hills", "name": "H"}],
        "organizations": [
            {"id": "org-a", "name": "A", "region": "lakeshore"},
            {"id": "org-b", "name": "B", "region": "lakeshore"},
            {"id": "org-c", "name": "C", "region": "hills"},
        ],
    }
)


def caller(org: str, *roles: Role, regions: tuple[str, ...] = ()) -> Principal:
    return Principal(sub="u", org=org, roles=frozenset(roles), regions=frozenset(regions))


def test_an_org_admin_sees_only_spans_attributed_to_their_own_organization() -> None:
    assert orgs_visible_to(caller("org-b", Role.ORG_ADMIN), NETWORK) == {"org-b"}


def test_a_network_admin_sees_the_organizations_of_their_regions_only() -> None:
    admin = caller("org-a", Role.NETWORK_ADMIN, regions=("lakeshore",))
    assert orgs_visible_to(admin, NETWORK) == {"org-a", "org-b"}


def test_otlp_exports_are_flattened_and_filtered_again() -> None:
    def kv(key: str, value: str) -> KeyValue:
        return KeyValue(key=key, value=AnyValue(string_value=value))

    span = Span(
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
        name="POST /crisis/alerts",
        start_time_unix_nano=5,
        end_time_unix_nano=9,
        attributes=[kv("rn.org", "org-a"), kv("enduser.id", "jane@example.org")],
    )
    export = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource={"attributes": [kv("service.name", "crisis")]},
                scope_spans=[ScopeSpans(spans=[span])],
            )
        ]
    )
    (rec,) = spans_from_otlp(export).spans
    assert rec.trace_id == bytes(range(16)).hex() and rec.parent_span_id is None
    assert (rec.service, rec.org, rec.attributes) == ("crisis", "org-a", {"rn.org": "org-a"})
