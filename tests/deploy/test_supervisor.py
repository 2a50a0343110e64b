"""`make run` starts again a process that died, after a back-off, and leaves the others alone."""

import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from deploy.local.supervisor import Backoff, Supervisor, exit_text, tend

NOON = datetime(2026, 11, 27, 12, 0, 0)


def test_the_wait_doubles_with_each_quick_death_up_to_the_cap() -> None:
    backoff = Backoff(base=1.0, cap=30.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_process_that_ran_a_while_before_dying_waits_the_shortest_time_again() -> None:
    supervisor = Supervisor(Backoff(base=1.0, cap=30.0, reset_after=60.0))
    supervisor.watch(["crisis"], now=0.0)
    waits = []
    for now in (1.0, 3.0, 7.0):  # dies at once after each restart
        waits.append(supervisor.died("crisis", now))
        supervisor.restarting("crisis", now + waits[-1])
    assert waits == [1, 2, 4]
    assert supervisor.died("crisis", 7.0 + 4.0 + 600.0) == 1  # ran ten minutes this time


@dataclass
class FakeProc:
    code: int | None = None

    def poll(self) -> int | None:
        return self.code


@dataclass
class FakeStack:
    procs: dict[str, subprocess.Popen[bytes]]
    log_dir: Path | None = Path("/data/logs")
    refuse: set[str] = field(default_factory=set)
    respawned: list[str] = field(default_factory=list)

    def respawn(self, name: str) -> None:
        if name in self.refuse:
            raise RuntimeError(f"port for {name} is already in use")
        self.respawned.append(name)
        self.procs[name] = FakeProc()  # type: ignore[assignment]


def fake_stack(**codes: int | None) -> FakeStack:
    return FakeStack(procs={name: FakeProc(code) for name, code in codes.items()})  # type: ignore[misc]


def test_a_dead_service_is_announced_and_started_again_alone_once_its_wait_is_over() -> None:
    stack = fake_stack(meetings=None, crisis=-9, nats=None)
    supervisor = Supervisor(Backoff(base=2.0))
    supervisor.watch(list(stack.procs), now=0.0)
    said: list[str] = []

    tend(stack, supervisor, 10.0, said.append, wall=lambda: NOON)
    assert said == [
        "12:00:00 crisis was killed by SIGKILL; restarting it at 12:00:02 (in 2 s). See /data/logs/crisis.log"
    ]
    assert set(stack.procs) == {"meetings", "nats"} and stack.respawned == []

    tend(stack, supervisor, 11.0, said.append, wall=lambda: NOON)
    assert stack.respawned == []  # its wait is not over yet

    tend(stack, supervisor, 12.0, said.append, wall=lambda: NOON)
    assert stack.respawned == ["crisis"] and set(stack.procs) == {"meetings", "nats", "crisis"}
    assert said[-1] == "12:00:00 crisis started again"


def test_a_process_that_cannot_start_again_is_tried_later_with_a_longer_wait() -> None:
    stack = fake_stack(nats=1)
    stack.refuse.add("nats")
    supervisor = Supervisor(Backoff(base=1.0))
    supervisor.watch(["nats"], now=0.0)
    said: list[str] = []

    tend(stack, supervisor, 5.0, said.append, wall=lambda: NOON)
    tend(stack, supervisor, 6.0, said.append, wall=lambda: NOON)

    assert said[0].startswith("12:00:00 nats exited with code 1; restarting it at 12:00:01 (in 1 s)")
    assert said[1] == "12:00:00 nats did not start again (port for nats is already in use); next try in 2 s"
    assert supervisor.due(7.9) == [] and supervisor.due(8.0) == ["nats"]


def test_exit_codes_read_as_people_say_them() -> None:
    assert exit_text(0) == "exited with code 0"
    assert exit_text(3) == "exited with code 3"
    assert exit_text(-15) == "was killed by SIGTERM"
