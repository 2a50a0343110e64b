"""`make run` keeps the network up: a process that dies is started again after a back-off, alone.

The others keep running meanwhile: services reconnect to a restarted nats-server or document store
by themselves, and JetStream and the store keep their data on disk.
"""

import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Backoff:
    """Waits of base, 2 x base, 4 x base ... up to `cap` between restarts of a process that keeps
    dying; one that ran `reset_after` seconds before it died starts again from `base`."""

    base: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0

    def delay(self, failures: int) -> float:
        return float(min(self.cap, self.base * 2 ** max(0, failures - 1)))


@dataclass
class Supervisor:
    """When each dead process is due to start again. Times are `time.monotonic()` seconds."""

    backoff: Backoff = field(default_factory=Backoff)
    started: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    pending: dict[str, float] = field(default_factory=dict)  # name: when to start it again

    def watch(self, names: list[str], now: float) -> None:
        for name in names:
            self.started[name] = now

    def died(self, name: str, now: float) -> float:
        """Record a death; returns the seconds until the restart."""
        ran = now - self.started.get(name, now)
        failures = 1 if ran >= self.backoff.reset_after else self.failures.get(name, 0) + 1
        self.failures[name] = failures
        delay = self.backoff.delay(failures)
        self.pending[name] = now + delay
        return delay

    def due(self, now: float) -> list[str]:
        return sorted(name for name, at in self.pending.items() if at <= now)

    def restarting(self, name: str, now: float) -> None:
        # Counted as started now: if it dies at once, or cannot start, the next wait is longer.
        self.pending.pop(name, None)
        self.started[name] = now


class Processes(Protocol):
    """What `tend` needs of deploy.local.stack.Stack."""

    procs: dict[str, subprocess.Popen[bytes]]
    log_dir: Path | None

    def respawn(self, name: str) -> None: ...


def exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def tend(
    stack: Processes,
    supervisor: Supervisor,
    now: float,
    say: Callable[[str], None],
    wall: Callable[[], datetime] = datetime.now,
) -> None:
    """One round: notice the processes that died, start again those whose wait is over."""
    for name, proc in list(stack.procs.items()):
        code = proc.poll()
        if code is None:
            continue
        del stack.procs[name]
        delay = supervisor.died(name, now)
        at = wall() + timedelta(seconds=delay)
        log = stack.log_dir / f"{name}.log" if stack.log_dir else "its log"
        say(
            f"{wall():%H:%M:%S} {name} {exit_text(code)}; restarting it at {at:%H:%M:%S} "
            f"(in {delay:g} s). See {log}"
        )
    for name in supervisor.due(now):
        supervisor.restarting(name, now)
        try:
            stack.respawn(name)
        except Exception as exc:  # it stays down until the next try; the rest of the network keeps running
            delay = supervisor.died(name, now)
            say(f"{wall():%H:%M:%S} {name} did not start again ({exc}); next try in {delay:g} s")
            continue
        say(f"{wall():%H:%M:%S} {name} started again")
