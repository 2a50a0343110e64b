"""One cell of a rollup: a count, its errors and a mergeable quantile sketch of its durations. No I/O.

The sketch is DDSketch's (the `ddsketch` package's logarithmic mapping): a duration falls in the bin
`mapping.key(ms)`, and a quantile read from the bins is within `RELATIVE_ACCURACY` of the true one.
Bins of two cells add up, so a minute merges into an hour, a day, or any window, and the quantiles of
the merge are those of all the durations within the same error: nothing is averaged.

Stored, a cell is `{"n": count, "e": errors, "z": zeros, "o": first bin, "c": [counts from it]}`:
the bins of one operation's durations are mostly neighbours, so a dense list is the smallest form,
and the quickest to read back. Dashboards read stored cells as they are (`StoredCell`), without
making a `Cell` of each.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ddsketch.mapping import LogarithmicMapping

# 2 %: a p99 of 1.00 s reads as 0.98-1.02 s, and a cell holds half the bins 1 % would need.
RELATIVE_ACCURACY = 0.02
MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
# Durations below this are counted as zero: a bin per nanosecond would only grow the sketch.
MIN_MS = 0.001
StoredCell = dict[str, Any]


@dataclass
class Cell:
    count: int = 0
    errors: int = 0
    zeros: int = 0  # measured durations under MIN_MS
    bins: Counter[int] = field(default_factory=Counter)

    def add(self, ms: float | None = None, *, error: bool = False) -> None:
        self.count += 1
        self.errors += error
        if ms is None:
            return
        if ms < MIN_MS:
            self.zeros += 1
        else:
            self.bins[int(MAPPING.key(ms))] += 1

    def merge(self, other: "Cell") -> None:
        self.count += other.count
        self.errors += other.errors
        self.zeros += other.zeros
        self.bins.update(other.bins)

    def quantile(self, q: float) -> float | None:
        return quantiles([self.to_json()], {"q": q})["q"]

    def to_json(self) -> StoredCell:
        stored: StoredCell = {"n": self.count, "e": self.errors, "z": self.zeros}
        live = [k for k, v in self.bins.items() if v]
        if live:
            first = min(live)
            stored["o"], stored["c"] = first, [self.bins.get(k, 0) for k in range(first, max(live) + 1)]
        return stored

    @classmethod
    def from_json(cls, stored: StoredCell) -> "Cell":
        first = stored.get("o", 0)
        bins = Counter({first + i: c for i, c in enumerate(stored.get("c", ())) if c})
        return cls(stored["n"], stored["e"], stored["z"], bins)


def merge_into(into: dict[str, Cell], cells: dict[str, Cell]) -> None:
    for key, cell in cells.items():
        into.setdefault(key, Cell()).merge(cell)


def quantiles(cells: Iterable[StoredCell], wanted: dict[str, float]) -> dict[str, float | None]:
    """DDSketch's quantiles of stored cells merged: the value of the bin holding the rank q * (n - 1)."""
    zeros = 0
    bins: Counter[int] = Counter()
    for cell in cells:
        zeros += cell["z"]
        first = cell.get("o", 0)
        for i, c in enumerate(cell.get("c", ())):
            if c:
                bins[first + i] += c
    n = zeros + sum(bins.values())
    if n == 0:
        return dict.fromkeys(wanted)
    keys = sorted(bins)
    found: dict[str, float | None] = {}
    for name, q in wanted.items():
        rank, seen = q * (n - 1), zeros
        value = 0.0 if seen > rank else None
        for key in keys if value is None else ():
            seen += bins[key]
            if seen > rank:
                value = float(MAPPING.value(key))
                break
        found[name] = value if value is not None else float(MAPPING.value(keys[-1]))
    return found
