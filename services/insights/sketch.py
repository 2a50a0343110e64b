"""One cell of a rollup: a count, its errors and a mergeable quantile sketch of its durations. No I/O.

The sketch is DDSketch's (the `ddsketch` package's logarithmic mapping): a duration falls in the bin
`mapping.key(ms)`, and a quantile read from the bins is within `RELATIVE_ACCURACY` of the true one.
Bins of two cells add up, so a minute merges into an hour, a day, or any window, and the quantiles of
the merge are those of all the durations within the same error: nothing is averaged.
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ddsketch.mapping import LogarithmicMapping

RELATIVE_ACCURACY = 0.01
MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
# Durations below this are counted as zero: a bin per nanosecond would only grow the sketch.
MIN_MS = 0.001


@dataclass
class Cell:
    count: int = 0
    errors: int = 0
    zeros: int = 0  # measured durations under MIN_MS
    bins: Counter[int] = field(default_factory=Counter)

    @property
    def measured(self) -> int:
        return self.zeros + sum(self.bins.values())

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
        """DDSketch's quantile: the value of the bin holding the rank q * (n - 1)."""
        n = self.measured
        if n == 0:
            return None
        rank = q * (n - 1)
        seen = self.zeros
        if seen > rank:
            return 0.0
        for key in sorted(self.bins):
            seen += self.bins[key]
            if seen > rank:
                return float(MAPPING.value(key))
        return float(MAPPING.value(max(self.bins)))

    def to_json(self) -> dict[str, Any]:
        # Bin keys become strings: JSON objects have no integer keys.
        bins = {str(k): v for k, v in self.bins.items()}
        return {"n": self.count, "e": self.errors, "z": self.zeros, "b": bins}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Cell":
        return cls(data["n"], data["e"], data["z"], Counter({int(k): v for k, v in data["b"].items()}))


def merge_into(into: dict[str, Cell], cells: dict[str, Cell]) -> None:
    for key, cell in cells.items():
        into.setdefault(key, Cell()).merge(cell)
