"""A coordinator's batch: the whole waiting list assigned to mentors' free slots at once, exactly optimal.

The objective is lexicographic: first as many members matched as possible, then the largest total
score, where the k-th new mentee (k = 0, 1, ...) a mentor gets in this batch earns
`preference_points(mentor, request) + load_points(capacity, load + k)`. Load points fall as a mentor
fills, so the gain of a mentor's slots is concave and spreading members over mentors is rewarded
exactly as the one-request score rewards it. `greedy` is the baseline the benchmark compares with:
the waiting list in order, each request taking its best feasible mentor with a free slot.

Solver: scipy's `min_weight_full_bipartite_matching` (LAPJVsp, a sparse Jonker-Volgenant) on mentors'
slots (each mentor's k-th free slot a node whose arcs carry that slot's load points) against
members, plus one "left unmatched" node per slot whose cost outweighs any score (so the matching is
maximal first). Measured on 10,000 members x 2,000 mentors (capacity 1-5, a third of the pairs
feasible, 7 million arcs): OR-tools' min-cost flow took 5.8 s on the whole graph, too slow for the 2 s
target; on the candidate graph below both solve in about 0.2 s, and scipy is the lighter dependency
(OR-tools brings pandas, absl and a protobuf pin of its own).

Exact, not a heuristic: the matching is solved on a candidate graph (each member's best few mentors
and each mentor's best few members) and then proven optimal on the whole graph. From the candidate
solution we compute dual prices for the mentors (the greatest solution of the complementary-slackness
difference constraints, by Bellman-Ford on the small mentor graph) and check every feasible pair of the
whole problem against them: a pair whose reduced cost is negative could improve the solution, so it is
added to the candidates and the matching solved again, until no pair violates. Prices that every pair
respects are an optimal dual of the whole problem, which is the proof (LP duality; the problem is a
bipartite b-matching, whose LP has integral optima).

Scoring 20 million pairs one `model.score` call at a time would take a minute, so `problem` reads
the profiles into arrays and scores all pairs at once with numpy; it is the same rule as
`model.checks` and `model.preference_lines`, and tests/services/mentoring/test_assignment.py proves
the two agree on random profiles (and the whole assignment against brute force with the model's own
functions). Ties are broken deterministically: requests in waiting order (requested_at, id),
mentors by id, the same input gives the same pairs.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
import scipy.sparse as sparse  # type: ignore[import-untyped]
from numpy.typing import NDArray
from scipy.sparse.csgraph import min_weight_full_bipartite_matching  # type: ignore[import-untyped]

from services.mentoring import model

Ints = NDArray[np.int64]
Points = NDArray[np.int16]  # (members, mentors): preference points of a feasible pair, else INFEASIBLE

INFEASIBLE = -1
UNMATCHED = -1
# How many candidates a member and a mentor (per free slot) bring into the first solve: enough that the
# proof usually passes at once; more only costs time, fewer only costs another round.
MEMBER_CANDIDATES = 4
MENTOR_CANDIDATES_PER_SLOT = 4
MOST_ADDED_PER_MEMBER = 8  # violating pairs added per round, at most, times the members
_ROWS_PER_CHECK = 2048  # the whole-graph check goes by blocks of members to bound its memory


@dataclass(frozen=True)
class Assignment:
    pairs: dict[str, str]  # request id -> mentor id, in waiting order
    total: int  # preference points plus load points, summed over the new matches
    matched: int


@dataclass(frozen=True)
class Problem:
    """The batch as arrays: rows are requests in waiting order, columns mentors with a free slot by id."""

    requests: tuple[model.Request, ...]
    mentors: tuple[model.MentorProfile, ...]
    points: Points
    gains: Ints  # (mentors, most free slots): gains[j, k] = load points of mentor j's k-th new mentee
    free: Ints


# --- the solver, on plain arrays ------------------------------------------------------------------


def total(points: Points, gains: Ints, mentor_of: Ints) -> int:
    """The objective's score of an assignment (member -> mentor index or UNMATCHED)."""
    members = np.flatnonzero(mentor_of >= 0)
    taken = np.bincount(mentor_of[members], minlength=points.shape[1])
    slots = np.arange(gains.shape[1])[None, :] < taken[:, None]
    return int(points[members, mentor_of[members]].astype(np.int64).sum() + gains[slots].sum())


def solve(
    points: Points,
    gains: Ints,
    free: Ints,
    member_candidates: int = MEMBER_CANDIDATES,
    mentor_candidates_per_slot: int = MENTOR_CANDIDATES_PER_SLOT,
) -> Ints:
    """The optimal assignment: for each member (row) its mentor's column, or UNMATCHED.

    `points[i, j]` is the preference points of member i with mentor j (INFEASIBLE if they do not fit),
    `gains[j, k]` what mentor j's k-th new mentee adds (non-increasing in k), `free[j]` their free slots.
    """
    n = points.shape[0]
    _validate(points, gains, free)
    mentor_of = np.full(n, UNMATCHED, dtype=np.int64)
    open_ = np.flatnonzero(free > 0)
    if n == 0 or open_.size == 0:
        return mentor_of
    everyone = open_.size == points.shape[1]
    p, g, f = (points, gains, free) if everyone else (points[:, open_], gains[open_], free[open_])
    # A bonus per matched member larger than any total score makes "more members" win first.
    bonus = int((max(int(p.max()), 0) + max(int(g.max()), 0)) * min(n, int(f.sum())) + 1)
    ii, jj = _candidates(p, g, f, max(1, member_candidates), max(1, mentor_candidates_per_slot))
    while True:
        local = _match(ii, jj, p, g, f, bonus)
        prices = _prices(ii, jj, local, p, g, f, bonus)
        vi, vj, by = _violations(p, local, prices)
        if vi.size == 0:
            break
        if vi.size > (limit := MOST_ADDED_PER_MEMBER * n):
            # The most violated first: a mentor left with free slots is violated by all its members.
            most = np.argpartition(-by, limit)[:limit]
            vi, vj = vi[most], vj[most]
        width = p.shape[1]
        key = np.unique(np.concatenate([ii * width + jj, vi * width + vj]))
        ii, jj = key // width, key % width
    matched = local >= 0
    mentor_of[matched] = open_[local[matched]]
    return mentor_of


def greedy_solve(points: Points, gains: Ints, free: Ints) -> Ints:
    """The baseline: members in row order, each taking the best feasible mentor with a free slot now
    (points plus the load points of that mentor's next slot; ties: the lower column)."""
    n, m = points.shape
    _validate(points, gains, free)
    mentor_of = np.full(n, UNMATCHED, dtype=np.int64)
    if m == 0:
        return mentor_of
    taken = np.zeros(m, dtype=np.int64)
    padded = np.concatenate([gains, np.zeros((m, 1), dtype=np.int64)], axis=1)
    # The score of each mentor's next slot, or a value below any score once they are full.
    closed = -(1 << 40)
    next_gain = np.where(free > 0, padded[:, 0], closed)
    for i in range(n):
        row = points[i]
        scores = np.where(row >= 0, row + next_gain, closed)
        j = int(scores.argmax())
        if scores[j] <= closed // 2:
            continue
        mentor_of[i] = j
        taken[j] += 1
        next_gain[j] = padded[j, taken[j]] if taken[j] < free[j] else closed
    return mentor_of


def _validate(points: Points, gains: Ints, free: Ints) -> None:
    m = points.shape[1]
    if gains.shape[0] != m or free.shape != (m,):
        raise ValueError("gains and free need one row per mentor")
    if m and int(free.max(initial=0)) > gains.shape[1]:
        raise ValueError("gains needs a column for every free slot")
    slot = np.arange(gains.shape[1])[None, :]
    inside = slot[:, 1:] < free[:, None]
    if bool((gains < 0)[slot < free[:, None]].any()):
        raise ValueError("gains are points: never negative")
    if bool((gains[:, 1:] > gains[:, :-1])[inside].any()):
        # A later slot worth more would be filled out of order: the objective would not be the
        # k-th-mentee sum this module promises, nor the flow model exact.
        raise ValueError("a mentor's gains must not increase with the slots taken")


def _candidates(p: Points, g: Ints, f: Ints, per_member: int, per_slot: int) -> tuple[Ints, Ints]:
    """Each member's best mentors by first-slot score and each mentor's best members by points."""
    n = p.shape[0]
    first = np.where(p >= 0, p + g[:, 0].astype(np.int16), np.int16(-1))
    chosen = _best(first, np.full(n, per_member, dtype=np.int64))
    chosen |= _best(np.ascontiguousarray(p.T), np.minimum(per_slot * f, n)).T
    ii, jj = np.nonzero(chosen & (p >= 0))
    return ii.astype(np.int64), jj.astype(np.int64)


def _best(values: Points, wanted: Ints) -> NDArray[np.bool_]:
    """Each row's `wanted[row]` highest values (any, when the row has fewer).

    Points are small integers with many ties, on which numpy's selection crawls and which it would
    break alike in every row: a scrambled column number below the value makes them distinct, in a
    different order in each row (an odd multiplier plus a row's offset is a permutation modulo a power
    of two; uint32 arithmetic wraps modulo 2**32, which keeps it one), so that mentors do not all bring
    the same tied members.
    """
    rows, width = values.shape
    bits = max(1, int(width - 1).bit_length())
    wide = int(values.max(initial=0)).bit_length() + 2 + bits > 31
    column = np.arange(width, dtype=np.uint32) * np.uint32(0x9E3779B1)
    offset = np.arange(rows, dtype=np.uint32) * np.uint32(0x85EBCA6B)
    scramble = np.add(column[None, :], offset[:, None])  # in place from here: these are large
    scramble &= np.uint32((1 << bits) - 1)
    keyed: NDArray[np.signedinteger[Any]] = values.astype(np.int64 if wide else np.int32)
    keyed += 1
    keyed <<= bits
    keyed |= scramble.view(np.int32)  # below 2**bits: the same number signed
    places = np.clip(width - wanted, 0, width - 1)
    cut = np.partition(keyed, sorted({int(x) for x in places}), axis=1)[np.arange(rows), places]
    cut[wanted >= width] = np.iinfo(keyed.dtype).min
    cut[wanted <= 0] = np.iinfo(keyed.dtype).max
    chosen: NDArray[np.bool_] = keyed >= cut[:, None]
    return chosen


def _match(ii: Ints, jj: Ints, p: Points, g: Ints, f: Ints, bonus: int) -> Ints:
    """The lexicographic optimum on the candidate arcs, as member -> mentor (UNMATCHED if none)."""
    n, m = p.shape
    slots = int(f.sum())
    first_slot = np.cumsum(f) - f
    per_arc = f[jj]
    ai, aj = np.repeat(ii, per_arc), np.repeat(jj, per_arc)
    ak = np.arange(ai.size) - np.repeat(np.cumsum(per_arc) - per_arc, per_arc)
    # Costs stay positive (the matcher drops zero entries of a sparse matrix); leaving a slot empty
    # costs `bonus` more than the dearest arc, so every extra member matched is worth more than any score.
    top = int(p.max()) + int(g.max()) + 1
    cost = (top - p[ai, aj].astype(np.int64) - g[aj, ak]).astype(np.float64)
    rows = np.concatenate([first_slot[aj] + ak, np.arange(slots)])
    cols = np.concatenate([ai, n + np.arange(slots)])
    weights = np.concatenate([cost, np.full(slots, float(top + bonus))])
    graph = sparse.csr_array((weights, (rows, cols)), shape=(slots, n + slots))
    row_of, col_of = min_weight_full_bipartite_matching(graph)
    mentor_of_slot = np.repeat(np.arange(m), f)
    local = np.full(n, UNMATCHED, dtype=np.int64)
    real = col_of < n
    local[col_of[real]] = mentor_of_slot[row_of[real]]
    return local


def _prices(ii: Ints, jj: Ints, local: Ints, p: Points, g: Ints, f: Ints, bonus: int) -> Ints:
    """Mentor prices certifying that `local` is optimal on the candidate arcs.

    With a member's value of mentor j as w = bonus + points and y the mentor's price (here less the
    bonus), complementary slackness asks: a matched member's mentor is their best value less price and
    that is not negative (y_a <= p_ia); an unmatched member gains nothing anywhere (y_j >= p_ij); a
    mentor with c new mentees is priced between the loss of the c-th slot and that of the next one.
    The greatest such prices are the shortest paths from the upper bounds over the constraints
    y_a <= y_j + p_ia - p_ij (Bellman-Ford on the mentors; a negative cycle would mean `local` is not
    optimal). The greatest prices make the whole-graph check the easiest to pass.
    """
    m = p.shape[1]
    matched = local >= 0
    taken = np.bincount(local[matched], minlength=m)
    padded = np.concatenate([g, np.zeros((m, 1), dtype=np.int64)], axis=1)
    rows = np.arange(m)
    infinity = np.int64(1) << 60
    upper = np.where(taken < f, -padded[rows, taken] - bonus, infinity)
    members = np.flatnonzero(matched)
    np.minimum.at(upper, local[members], p[members, local[members]].astype(np.int64))
    lower = np.where(taken > 0, -padded[rows, np.maximum(taken - 1, 0)] - bonus, -infinity)
    loose = ~matched[ii]
    np.maximum.at(lower, jj[loose], p[ii[loose], jj[loose]].astype(np.int64))

    own = local[ii]
    alternative = matched[ii] & (jj != own)
    src, dst = jj[alternative], own[alternative]
    weight = p[ii[alternative], dst].astype(np.int64) - p[ii[alternative], src].astype(np.int64)
    prices = upper.copy()
    for _ in range(m + 1):
        relaxed = prices.copy()
        np.minimum.at(relaxed, dst, prices[src] + weight)
        if np.array_equal(relaxed, prices):
            break
        prices = relaxed
    else:
        raise RuntimeError("the candidate matching is not optimal (negative cycle in its prices)")
    if bool((prices < lower).any()):
        raise RuntimeError("the candidate matching is not optimal (no prices satisfy it)")
    return prices


def _violations(p: Points, local: Ints, prices: Ints) -> tuple[Ints, Ints, Ints]:
    """Every feasible pair of the whole problem that the prices do not certify: member i would gain more
    from mentor j at its price than from what they have (p_ij - y_j > p_ia - y_a, or > 0 unmatched);
    with by how much."""
    matched = local >= 0
    members = np.flatnonzero(matched)
    have = np.zeros(p.shape[0], dtype=np.int64)
    have[members] = p[members, local[members]].astype(np.int64) - prices[local[members]]
    # Points are small: a threshold clipped to [-1, ceiling] decides the same in int16 (-1: infeasible).
    ceiling = np.iinfo(np.int16).max - 1
    found_i, found_j = [], []
    for start in range(0, p.shape[0], _ROWS_PER_CHECK):
        block = p[start : start + _ROWS_PER_CHECK]
        threshold = np.clip(have[start : start + block.shape[0], None] + prices[None, :], -1, ceiling)
        bi, bj = np.nonzero(block > threshold.astype(np.int16))
        found_i.append(bi + start)
        found_j.append(bj)
    vi, vj = np.concatenate(found_i).astype(np.int64), np.concatenate(found_j).astype(np.int64)
    return vi, vj, p[vi, vj].astype(np.int64) - prices[vj] - have[vi]


# --- the model's profiles as arrays ---------------------------------------------------------------


def waiting_order(requests: Iterable[model.Request]) -> list[model.Request]:
    return sorted(requests, key=lambda r: (r.requested_at, r.id))


def problem(mentors: Iterable[model.MentorProfile], requests: Iterable[model.Request]) -> Problem:
    """The batch as arrays: `model.checks` and `model.preference_lines` for every pair at once."""
    reqs = tuple(waiting_order(requests))
    ms = tuple(sorted((m for m in mentors if m.free_slots > 0), key=lambda m: m.mentor_id))
    if len({m.mentor_id for m in ms}) != len(ms):
        raise ValueError("a mentor appears twice")
    free = np.array([m.free_slots for m in ms], dtype=np.int64)
    slots = int(free.max(initial=0))
    gains = np.array(
        [[model.load_points(m.capacity, m.load + k) for k in range(slots)] for m in ms], dtype=np.int64
    ).reshape(len(ms), slots)
    fits = _feasible(ms, reqs)
    points = np.where(fits, _preference_points(ms, reqs), INFEASIBLE).astype(np.int16)
    return Problem(reqs, ms, points, gains, free)


def optimal(mentors: Iterable[model.MentorProfile], requests: Iterable[model.Request]) -> Assignment:
    """The globally optimal assignment of the waiting requests to mentors' free slots."""
    return _assignment(prob := problem(mentors, requests), solve(prob.points, prob.gains, prob.free))


def greedy(mentors: Iterable[model.MentorProfile], requests: Iterable[model.Request]) -> Assignment:
    """The baseline: in waiting order, each request takes its best feasible mentor with a free slot."""
    prob = problem(mentors, requests)
    return _assignment(prob, greedy_solve(prob.points, prob.gains, prob.free))


def _assignment(prob: Problem, mentor_of: Ints) -> Assignment:
    pairs = {
        prob.requests[i].id: prob.mentors[int(mentor_of[i])].mentor_id for i in np.flatnonzero(mentor_of >= 0)
    }
    return Assignment(pairs, total(prob.points, prob.gains, mentor_of), len(pairs))


class _Vocabulary:
    """Values seen on the mentors' side, each a bit: a request's values no mentor has cannot match."""

    def __init__(self, values: Iterable[str]) -> None:
        self.bit = {v: i for i, v in enumerate(sorted(set(values)))}
        self.words = max(1, -(-len(self.bit) // 64))

    def masks(self, sets: Sequence[Iterable[str]]) -> NDArray[np.uint64]:
        out = np.zeros((len(sets), self.words), dtype=np.uint64)
        for row, values in enumerate(sets):
            for v in values:
                if (b := self.bit.get(v)) is not None:
                    out[row, b // 64] |= np.uint64(1 << (b % 64))
        return out


def _meet(a: NDArray[np.uint64], b: NDArray[np.uint64]) -> NDArray[np.bool_]:
    """(rows of a) x (rows of b): do the two sets share a value."""
    out = np.zeros((a.shape[0], b.shape[0]), dtype=np.bool_)
    for w in range(a.shape[1]):
        out |= (a[:, w, None] & b[None, :, w]) != 0
    return out


def _feasible(ms: Sequence[model.MentorProfile], reqs: Sequence[model.Request]) -> NDArray[np.bool_]:
    """model.checks for every pair. Requests that differ only in who, when, age and preferences check
    alike, and there are few such kinds: the checks run per kind and per age, then spread to the rows."""
    kinds: dict[tuple[Any, ...], int] = {}
    ages: dict[int | None, int] = {}
    kind_of = np.fromiter((kinds.setdefault(_check_kind(r), len(kinds)) for r in reqs), np.int64, len(reqs))
    age_of = np.fromiter((ages.setdefault(r.age, len(ages)) for r in reqs), np.int64, len(reqs))
    firsts: dict[int, model.Request] = {}
    for r, k in zip(reqs, kind_of, strict=True):
        firsts.setdefault(int(k), r)
    fits = _fits_but_age(ms, [firsts[k] for k in range(len(kinds))])[kind_of]
    fits &= _age_fits(ms, list(ages))[age_of]
    # Per-pair exceptions, few: a member is not their own mentor; mentors who declined or let the
    # request expire are never proposed again; paused mentors have no free slot and are not columns.
    column_of = {m.mentor_id: j for j, m in enumerate(ms)}
    for i, r in enumerate(reqs):
        for mentor_id in (r.member_id, *r.excluded):
            if (j := column_of.get(mentor_id)) is not None:
                fits[i, j] = False
    return fits


def _check_kind(r: model.Request) -> tuple[Any, ...]:
    return (
        r.org,
        r.languages,
        r.mentor_genders,
        r.pathways,
        r.mode,
        r.region if r.mode == "in_person" else None,
    )


def _column(values: Iterable[Any], dtype: Any = np.int64) -> NDArray[Any]:
    return np.fromiter(values, dtype=dtype)


def _fits_but_age(ms: Sequence[model.MentorProfile], reqs: Sequence[model.Request]) -> NDArray[np.bool_]:
    column = _column
    orgs = {o: i for i, o in enumerate(sorted({m.org for m in ms}))}
    fits = column(orgs.get(r.org, -1) for r in reqs)[:, None] == column(orgs[m.org] for m in ms)[None, :]
    languages = _Vocabulary(v for m in ms for v in m.languages)
    fits &= _meet(languages.masks([r.languages for r in reqs]), languages.masks([m.languages for m in ms]))

    genders = _Vocabulary(m.gender for m in ms if m.gender is not None)
    any_gender = column((not r.mentor_genders for r in reqs), np.bool_)[:, None]
    mentor_genders = [() if m.gender is None else (m.gender,) for m in ms]
    fits &= any_gender | _meet(genders.masks([r.mentor_genders for r in reqs]), genders.masks(mentor_genders))

    pathways = _Vocabulary(v for m in ms for v in m.pathways)
    any_pathway = column((not r.pathways for r in reqs), np.bool_)[:, None]
    fits &= any_pathway | _meet(
        pathways.masks([r.pathways for r in reqs]), pathways.masks([m.pathways for m in ms])
    )

    regions = {g: i for i, g in enumerate(sorted({m.region for m in ms if m.region is not None}))}
    # In person: the mentor meets in person, has a region, and it is the member's (-2 never equals -1).
    mentor_region = column(regions[m.region] if m.in_person and m.region is not None else -1 for m in ms)
    member_region = column(regions.get(r.region, -2) if r.region is not None else -2 for r in reqs)
    wants_online = column((r.mode == "online" for r in reqs), np.bool_)[:, None]
    wants_in_person = column((r.mode == "in_person" for r in reqs), np.bool_)[:, None]
    online = column((m.online for m in ms), np.bool_)[None, :]
    near = member_region[:, None] == mentor_region[None, :]
    fits &= ~(wants_online & ~online) & ~(wants_in_person & ~near)
    return np.asarray(fits, dtype=np.bool_)


def _age_fits(ms: Sequence[model.MentorProfile], ages: Sequence[int | None]) -> NDArray[np.bool_]:
    column = _column
    ranged = column((m.age_min is not None or m.age_max is not None for m in ms), np.bool_)[None, :]
    low = column(m.age_min or 0 for m in ms)[None, :]
    high = column(m.age_max or 200 for m in ms)[None, :]
    aged = column((a is not None for a in ages), np.bool_)[:, None]
    age = column(a or 0 for a in ages)[:, None]
    fits: NDArray[np.bool_] = ~(aged & ranged) | ((low <= age) & (age <= high))
    return fits


def _mentor_values(m: model.MentorProfile, kind: model.PreferenceKind) -> Iterable[str]:
    """The values of the mentor that meet a preference of this kind (as model._holds reads them)."""
    match kind:
        case "pathway":
            return m.pathways
        case "lived_experience":
            return m.lived_experience
        case "gender":
            return () if m.gender is None else (m.gender,)
        case "language":
            return m.languages
        case "region":
            return () if m.region is None else (m.region,)
        case "availability":
            return m.availability


_KINDS: tuple[model.PreferenceKind, ...] = get_args(model.PreferenceKind)


def _preference_points(ms: Sequence[model.MentorProfile], reqs: Sequence[model.Request]) -> Points:
    """Points of every pair: each request's per-preference points times whether the mentor holds it."""
    item: dict[tuple[str, str], int] = {}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[int] = []
    for i, r in enumerate(reqs):
        weights = sum(p.weight for p in r.preferences)
        for p in r.preferences:
            rows.append(i)
            cols.append(item.setdefault((p.kind, p.value), len(item)))
            vals.append(model.PREFERENCE_POINTS * p.weight // weights)
    held = np.zeros((len(item), len(ms)), dtype=np.float32)
    for j, m in enumerate(ms):
        for kind in _KINDS:
            for value in _mentor_values(m, kind):
                if (u := item.get((kind, value))) is not None:
                    held[u, j] = 1.0
    # Duplicated preferences add up, as their lines do; float32 is exact for these small integers.
    wants = sparse.csr_array(
        (np.array(vals, dtype=np.float32), (rows, cols)), shape=(len(reqs), len(item)), dtype=np.float32
    )
    return np.asarray(wants @ held).astype(np.int16)
