"""How each reviewer votes (owners' page, docs/voting.md §Reviewers): progress, agreement with
the others, an inter-rater figure, left/right bias, check items, and who looks random.

A *unit* is one question asked of several reviewers: (comparison, criterion, pair of takes).
A reviewer's answer is oriented by the pair's takes in id order — "first", "second" or "tie"
("both bad" is a tie) — so answers of reviewers who saw the takes in different screen orders
compare.

- **Progress**: comparisons voted on (any criterion) / comparisons with two or more ready takes.
- **Agreement** per criterion: over the units where the *other* reviewers have a strict
  majority answer, the share where this reviewer gave it. Leave-one-out, so a reviewer never
  agrees with themselves; pairs nobody else judged do not count.
- **Krippendorff's α** (nominal) per criterion over units with two or more answers
  (`krippendorff_alpha`; checked against Krippendorff's worked example in the tests). 1 is
  perfect agreement, 0 what chance gives.
- **Left/right bias**: of a reviewer's decisive pair answers with known screen positions, the
  share won by the take shown left, and the two-sided binomial p-value against ½.
- **Check items**: comparisons an editor marked with the take that should win on a criterion;
  accuracy = answers naming it better / answers on a pair that holds it (a tie is wrong).
- **Looks random** (flagged) when: at least `MIN_UNITS` units have a consensus and agreement is
  no better than a coin (one-sided binomial p > 0.05); or ≥ 90 % of `MIN_UNITS`+ decisive
  answers went to one side of the screen; or at least 3 check items were answered and at most
  half right. Each flag says which.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.boards import CRITERIA, criteria_for
from app.errors import Conflict, InputError
from app.models import Board, CheckItem, Comparison, Take, Vote, Voter

MIN_UNITS = 10
SIDE_SHARE = 0.9
CHANCE_P = 0.05
MIN_CHECKS = 3


@dataclass(frozen=True)
class VoteRow:
    voter: str
    comparison: str
    criterion: str
    take_a: str
    take_b: str
    winner: str                     # model_a | model_b | tie | tie (bothbad)
    position_a: int | None = None
    position_b: int | None = None

    @property
    def unit(self) -> tuple[str, str, str]:
        return (self.comparison, self.criterion, "|".join(sorted((self.take_a, self.take_b))))

    @property
    def answer(self) -> str:
        """"first" / "second" (the pair's takes in id order) or "tie"."""
        if self.winner not in ("model_a", "model_b"):
            return "tie"
        won = self.take_a if self.winner == "model_a" else self.take_b
        return "first" if won == min(self.take_a, self.take_b) else "second"

    @property
    def winner_take(self) -> str | None:
        return {"model_a": self.take_a, "model_b": self.take_b}.get(self.winner)


@dataclass
class ReviewerStats:
    voter: str
    name: str
    voted: int
    total: int
    agreement: dict[str, tuple[int, int]] = field(default_factory=dict)   # criterion → (agreed, units)
    left_wins: int = 0
    sided: int = 0                  # decisive answers with known positions
    side_p: float | None = None
    checks: tuple[int, int] = (0, 0)   # (right, answered)
    flags: list[str] = field(default_factory=list)

    @property
    def agreement_rate(self) -> float | None:
        agreed, n = (sum(x) for x in zip(*self.agreement.values())) if self.agreement else (0, 0)
        return agreed / n if n else None

    @property
    def left_share(self) -> float | None:
        return self.left_wins / self.sided if self.sided else None

    @property
    def check_accuracy(self) -> float | None:
        return self.checks[0] / self.checks[1] if self.checks[1] else None


@dataclass
class ReviewersReport:
    reviewers: list[ReviewerStats]
    alpha: dict[str, float | None]       # criterion → Krippendorff's α (None: not computable)
    alpha_units: dict[str, int]          # criterion → units with two or more answers
    total: int                           # comparisons that can be voted on
    check_items: int


def krippendorff_alpha(units: Iterable[Iterable[object]]) -> float | None:
    """Nominal Krippendorff's α from each unit's answers (missing ones left out). Units with
    fewer than two answers carry no pairing information and are skipped. None when there are
    fewer than two answers in all or only one value was ever given (no expected disagreement)."""
    o: Counter = Counter()                       # coincidences o[c, k]
    for answers in units:
        vals = list(answers)
        m = len(vals)
        if m < 2:
            continue
        counts = Counter(vals)
        for c, nc in counts.items():
            for k, nk in counts.items():
                o[c, k] += (nc * (nk - (c == k))) / (m - 1)
    n_c: Counter = Counter()
    for (c, _), v in o.items():
        n_c[c] += v
    n = sum(n_c.values())
    expected = sum(n_c[c] * n_c[k] for c in n_c for k in n_c if c != k)
    if n < 2 or expected <= 0:
        return None
    observed = sum(v for (c, k), v in o.items() if c != k)
    return 1.0 - (n - 1) * observed / expected


def binom_tail(k: int, n: int, p: float = 0.5) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p), summed in log space (no scipy at run time)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    def term(i: int) -> float:
        return math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                        + i * math.log(p) + (n - i) * math.log1p(-p))
    return min(1.0, sum(term(i) for i in range(k, n + 1)))


def _two_sided(k: int, n: int) -> float:
    return min(1.0, 2 * min(binom_tail(k, n), binom_tail(n - k, n)))


def _agreement(rows: list[VoteRow]) -> dict[str, dict[str, tuple[int, int]]]:
    """voter → criterion → (agreed, units with a strict majority among the others)."""
    by_unit: dict[tuple, dict[str, str]] = defaultdict(dict)
    for r in rows:
        by_unit[r.unit][r.voter] = r.answer
    out: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for unit, answers in by_unit.items():
        for voter, mine in answers.items():
            others = Counter(a for v, a in answers.items() if v != voter).most_common(2)
            if not others or (len(others) == 2 and others[0][1] == others[1][1]):
                continue                       # nobody else, or no strict majority
            cell = out[voter][unit[1]]
            cell[0] += mine == others[0][0]
            cell[1] += 1
    return {v: {k: (a, n) for k, (a, n) in by.items()} for v, by in out.items()}


def _flags(st: ReviewerStats) -> list[str]:
    flags = []
    agreed, units = (sum(x) for x in zip(*st.agreement.values())) if st.agreement else (0, 0)
    if units >= MIN_UNITS and binom_tail(agreed, units) > CHANCE_P:
        flags.append(f"agrees with the others on {agreed} of {units} pairs: no better than a coin")
    if st.sided >= MIN_UNITS and max(st.left_wins, st.sided - st.left_wins) >= SIDE_SHARE * st.sided:
        side = "left" if st.left_wins * 2 > st.sided else "right"
        flags.append(f"picked the take on the {side} in {max(st.left_wins, st.sided - st.left_wins)} "
                     f"of {st.sided} decisive votes")
    right, answered = st.checks
    if answered >= MIN_CHECKS and right * 2 <= answered:
        flags.append(f"{right} of {answered} check items right")
    return flags


def summarise(rows: Iterable[VoteRow], *, total: int, names: Mapping[str, str] | None = None,
              checks: Mapping[tuple[str, str], str] | None = None) -> ReviewersReport:
    """The report from the board's active votes. `total`: comparisons that can be voted on;
    `checks`: (comparison, criterion) → the take that should win; `names`: voter → name."""
    rows, names, checks = list(rows), names or {}, checks or {}
    agreement = _agreement(rows)
    stats: dict[str, ReviewerStats] = {}
    voted: dict[str, set] = defaultdict(set)
    right: Counter = Counter()
    answered: Counter = Counter()
    for r in rows:
        st = stats.setdefault(r.voter, ReviewerStats(r.voter, names.get(r.voter) or "", 0, total))
        voted[r.voter].add(r.comparison)
        win = r.winner_take
        if win and r.position_a is not None and r.position_b is not None and r.position_a != r.position_b:
            st.sided += 1
            st.left_wins += (win == r.take_a) == (r.position_a < r.position_b)
        expected = checks.get((r.comparison, r.criterion))
        if expected in (r.take_a, r.take_b):
            answered[r.voter] += 1
            right[r.voter] += win == expected
    for voter, st in stats.items():
        st.voted, st.agreement = len(voted[voter]), agreement.get(voter, {})
        st.checks = (right[voter], answered[voter])
        st.side_p = _two_sided(st.left_wins, st.sided) if st.sided else None
        st.flags = _flags(st)
    units: dict[str, dict[tuple, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        units[r.criterion][r.unit].append(r.answer)
    alpha = {k: krippendorff_alpha(u.values()) for k, u in units.items()}
    alpha_units = {k: sum(len(a) >= 2 for a in u.values()) for k, u in units.items()}
    order = sorted(stats.values(), key=lambda st: (-st.voted, st.name, st.voter))
    return ReviewersReport(order, alpha, alpha_units, total, len(checks))


# ---- the database side -------------------------------------------------------------------------

async def votable_count(s: AsyncSession, board_id: str) -> int:
    """Comparisons of the board with two or more ready takes."""
    q = (select(Take.comparison_id).join(Comparison, Comparison.id == Take.comparison_id)
         .where(Comparison.board_id == board_id, Take.status == "ready")
         .group_by(Take.comparison_id).having(func.count() >= 2))
    return (await s.execute(select(func.count()).select_from(q.subquery()))).scalar_one()


async def reviewers_report(s: AsyncSession, board: Board) -> ReviewersReport:
    """`summarise` over the board's active votes, its check items and its reviewers' names."""
    result = await s.execute(
        select(Vote.voter_id, Vote.comparison_id, Vote.criterion, Vote.take_a_id, Vote.take_b_id, Vote.winner,
               Vote.position_a, Vote.position_b, Voter.display_name)
        .join(Voter, Voter.id == Vote.voter_id)
        .where(Vote.board_id == board.id, Vote.superseded_at.is_(None)))
    rows, names = [], {}
    for voter, cid, crit, ta, tb, winner, pa, pb, name in result:
        rows.append(VoteRow(voter, cid, crit, ta, tb, winner, pa, pb))
        names[voter] = name
    checks = {(c.comparison_id, c.criterion): c.expected_take_id for c in (await s.execute(
        select(CheckItem).where(CheckItem.board_id == board.id))).scalars()}
    return summarise(rows, total=await votable_count(s, board.id), names=names, checks=checks)


async def check_items_of(s: AsyncSession, comparison_id: str) -> list[CheckItem]:
    return list((await s.execute(select(CheckItem).where(CheckItem.comparison_id == comparison_id)
                                 .order_by(CheckItem.criterion))).scalars())


async def set_check_item(s: AsyncSession, comparison: Comparison, criterion: str, expected_take: str | None,
                         by: str | None = None) -> CheckItem | None:
    """Mark the comparison as a check item on `criterion` with the take that should win
    (replacing an earlier mark); `expected_take` None or "" removes the mark. Bad input is
    refused before anything is written."""
    if criterion not in CRITERIA:
        raise InputError(f"unknown criterion {criterion!r}; known: {', '.join(CRITERIA)}")
    if criterion not in criteria_for(comparison):
        raise InputError(f"this comparison is not judged on {CRITERIA[criterion].lower()}")
    takes = {t.id: t for t in comparison.takes}
    if expected_take and expected_take not in takes:
        raise InputError(f"take {expected_take} is not part of this comparison")
    if expected_take and takes[expected_take].status != "ready":
        raise Conflict(f"take {expected_take} is not ready; only a ready take can be the expected answer")
    await s.execute(delete(CheckItem).where(CheckItem.comparison_id == comparison.id, CheckItem.criterion == criterion))
    item = None
    if expected_take:
        item = CheckItem(board_id=comparison.board_id, comparison_id=comparison.id, criterion=criterion,
                         expected_take_id=expected_take, created_by=by)
        s.add(item)
    await s.commit()
    return item
