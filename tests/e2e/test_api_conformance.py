"""Every service's HTTP API, fuzzed from its own OpenAPI document by schemathesis against the running
processes: no answer is a server error, and every answer is one the document describes (status code,
content type, body schema)."""

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from deploy.local.stack import Stack
from deploy.local.topology import SERVICES
from shared.auth.devkeys import mint_token
from shared.auth.principal import Role
from tests.conftest import OUTPUT
from tests.helpers import joined

pytestmark = pytest.mark.e2e

SANDBOX = "org-fuzz"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# Fuzzed examples per operation, beside the coverage phase's boundary and negative cases (which do not
# depend on it). 10 keeps the module near 80 s on two cores (20: about 100 s), time the fault
# suite's 1,000 alerts need within `make test`'s 15 minutes. RN_FUZZ_EXAMPLES and RN_FUZZ_SEED widen or
# vary it by hand.
EXAMPLES = os.environ.get("RN_FUZZ_EXAMPLES", "10")
SEED = os.environ.get("RN_FUZZ_SEED", "8")
# A stream of server-sent events never ends, so no answer to it can be checked.
ENDLESS = {"crisis": ["/crisis/console/events"], "notifications": ["/me/notifications/stream"]}
# Each service as a person holding every role; and the OTLP receiver once more as an exporter (with
# the ingest token), so that its parsing of what it is sent is fuzzed too, not only its refusals.
RUNS = [(s.name, "person") for s in SERVICES] + [("insights", "exporter")]
# By how long each took alone (2026-11-28: 42, 40, 34, 32, 16 and 5 s).
LONGEST_FIRST = [
    ("meetings", "person"),
    ("crisis", "person"),
    ("insights", "person"),
    ("mentoring", "person"),
    ("notifications", "person"),
    ("insights", "exporter"),
]
Runs = dict[tuple[str, str], "Future[subprocess.CompletedProcess[str]]"]


@pytest.fixture(scope="module")
def sandbox(network: Stack) -> Iterator[str]:
    """An organization (in a region of its own) added to the running network for the fuzzer, so the
    random data it writes (protocols, rosters, mentors, webhooks) lands in none that other tests read.
    Services re-read the network file when it changes, as when a network admin adds an organization."""
    region = {"id": "sandbox", "name": "Sandbox"}
    with joined(
        network.network_file, [region], [{"id": SANDBOX, "name": "Fuzzing sandbox", "region": "sandbox"}]
    ):
        yield SANDBOX


@pytest.fixture(scope="module")
def fuzzing(network: Stack, sandbox: str, request: pytest.FixtureRequest) -> Iterator[Runs]:
    """The runs of this module's selected tests, three at a time, each exactly as it would run alone.

    One run keeps about one of the two cores busy (the fuzzer and the service take turns): measured for
    the module, one at a time 184.9 s, two 106.2 s, three 97.0 s."""
    wanted = {
        (item.callspec.params["service"], item.callspec.params["caller"])
        for item in request.session.items
        if item.module is sys.modules[__name__] and hasattr(item, "callspec")
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        # The longest first, so the last one to end is a short one.
        yield {
            run: pool.submit(fuzz, network, sandbox, *run) for run in sorted(wanted, key=LONGEST_FIRST.index)
        }


@pytest.mark.parametrize(("service", "caller"), RUNS)
def test_every_answer_of_the_api_is_documented_and_none_is_a_server_error(
    fuzzing: Runs, service: str, caller: str
) -> None:
    run = fuzzing[(service, caller)].result()
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]


def fuzz(network: Stack, sandbox: str, service: str, caller: str) -> subprocess.CompletedProcess[str]:
    if caller == "exporter":
        token, only = network.otlp_token, ["--include-path=/v1/traces"]
    else:  # every role, so each operation is reached past its role check
        token = mint_token(
            network.private_key, sub="fuzzer", org=sandbox, roles=list(Role), regions=["sandbox"]
        )
        only = [f"--exclude-path={path}" for path in ENDLESS.get(service, [])]
    report = OUTPUT / "schemathesis" / f"{service}-{caller}"
    report.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{network.url(service)}/openapi.json",
            f"--checks={CHECKS}",
            f"--max-examples={EXAMPLES}",
            f"--seed={SEED}",
            "--phases=examples,coverage,fuzzing",
            "--workers=1",
            "--request-timeout=10",
            *only,
            f"--header=Authorization: Bearer {token}",
            "--report=junit",
            f"--report-dir={report}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
        cwd=report,  # where it keeps its example database too, out of the working tree
    )
    (report / "output.txt").write_text(run.stdout + run.stderr)
    return run
