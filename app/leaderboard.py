"""Leaderboards and the comparison table (docs/leaderboard.md), from the votes and takes in the database.

The statistics live in app.ranking (pure numpy); this module only asks the database for
counts. A ballot (a pair vote, a best-of-N pick, a ranking) must stay whole, because the
bootstrap resamples it as one judgement; so the database folds each ballot into a text key
and counts ballots per key, and a board with a million votes sends a few hundred rows to
Python (bench/leaderboard.py).

Which votes count: the active ones (a replaced vote stays in the history but not in the
ratings), of the given boards and criterion; optionally only those cast blind, since a vote
cast with the model names showing measures reputation as much as the clip.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import statistics
import time
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import String, and_, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import board_cache, vote_counts
from app.boards import CRITERIA
from app.errors import InputError
from app.exports import CsvLines, header
from app.models import Board, Comparison, Take, Vote
from app.ranking import Outcomes, Ranking, rank
from app.tags import tagged

MIN_VOTES = 20          # fewer pairwise votes than this: the rating is shown as provisional
ROUNDS = 1000           # bootstrap rounds behind every interval shown
SEED = 0                # fixed, so reloading a page does not wobble the intervals
log = logging.getLogger("takes")

# +1: take a was shown first (further left), −1: take b was, 0: unknown — as app.ranking.side_of
_SIDE = case(
    (Vote.position_a.is_(None) | Vote.position_b.is_(None) | (Vote.position_a == Vote.position_b), 0),
    (Vote.position_a < Vote.position_b, 1),
    else_=-1,
)


_UNIT, _RECORD = "\x1f", "\x1e"   # ASCII unit and record separators: never in a model id or winner


def _active(board_ids: Sequence[str], criterion: str, blind_only: bool, tag: str | None = None,
            comparison_ids: Sequence[str] | None = None):
    cond = [Vote.board_id.in_(list(board_ids)), Vote.superseded_at.is_(None), Vote.criterion == criterion]
    if blind_only:
        cond.append(Vote.blind.is_(True))
    if tag is not None:          # only the comparisons carrying the tag (app/tags.py)
        cond.append(Vote.comparison_id.in_(tagged(tag)))
    if comparison_ids is not None:
        cond.append(Vote.comparison_id.in_(list(comparison_ids)))
    return and_(*cond)


async def _scan_outcomes(s: AsyncSession, board_ids: Sequence[str], criterion: str, *,
                         blind_only: bool, tag: str | None, comparison_ids: Sequence[str] | None) -> Outcomes:
    """The votes of some of these boards' comparisons (a tag's, a suite's, a report's), folded
    from the votes themselves: the kept counts (app.vote_counts) are per board, not per subset.

    Each ballot is folded into one text key (its rows, in whatever order the database
    concatenates them) and the database counts ballots per key: a million votes come back as
    a few hundred rows. Keys that differ only in row order are merged by Outcomes.from_patterns.
    `comparison_ids` (None: all) limits the votes to those comparisons: a tag's, a suite's, a report's."""
    if not board_ids or (comparison_ids is not None and not comparison_ids):
        return Outcomes.empty()
    dialect = (await s.connection()).dialect.name
    row = (Vote.model_a + _UNIT + Vote.model_b + _UNIT + Vote.winner + _UNIT + cast(_SIDE, String))
    agg = func.string_agg(row, _RECORD) if dialect == "postgresql" else func.group_concat(row, _RECORD)
    per_ballot = (select(agg.label("pattern")).where(_active(board_ids, criterion, blind_only, tag, comparison_ids))
                  .group_by(Vote.ballot_id).subquery())
    rows = (await s.execute(select(per_ballot.c.pattern, func.count()).group_by(per_ballot.c.pattern))).all()
    patterns: dict[tuple, int] = defaultdict(int)
    for key, n in rows:
        pattern = []
        for part in key.split(_RECORD):
            model_a, model_b, winner, side = part.split(_UNIT)
            pattern.append((model_a, model_b, winner, int(side)))
        patterns[tuple(sorted(pattern))] += int(n)
    return Outcomes.from_patterns(patterns)


async def load_outcomes(s: AsyncSession, board_ids: Sequence[str], criterion: str = "overall", *,
                        blind_only: bool = False, tag: str | None = None,
                        comparison_ids: Sequence[str] | None = None) -> Outcomes:
    """The votes of these boards for one criterion, aggregated for app.ranking: the ballot
    counts per pattern that every vote keeps up to date (app.vote_counts), a few hundred rows
    for a board with a million votes. With a `tag` or `comparison_ids` (None: all), only those
    comparisons' votes, folded from the votes (`_scan_outcomes`)."""
    if not board_ids:
        return Outcomes.empty()
    if tag is not None or comparison_ids is not None:
        return await _scan_outcomes(s, board_ids, criterion, blind_only=blind_only, tag=tag,
                                    comparison_ids=comparison_ids)
    return Outcomes.from_patterns(await vote_counts.patterns(s, board_ids, criterion, blind_only=blind_only))


async def criteria_with_votes(s: AsyncSession, board_ids: Sequence[str]) -> list[str]:
    """Criteria that have active votes on these boards, in CRITERIA order (overall always)."""
    found = await vote_counts.counted_criteria(s, board_ids) if board_ids else set()
    found.add("overall")
    return [k for k in CRITERIA if k in found] + sorted(found - set(CRITERIA))


# The fit of one set of counts: the counts are its version (same counts, same ranking), so a
# page load after no new vote costs the few-hundred-row read and nothing else. A fit that took
# longer than SLOW_S is also kept in the database (app/board_cache.py) under its scope, so a
# fresh process finds it instead of fitting again.
_FITS: OrderedDict[tuple, Ranking] = OrderedDict()
_FITS_KEPT = 64


def _fit_key(outcomes: Outcomes, rounds: int, min_votes: int) -> tuple:
    return (outcomes.models, rounds, min_votes) + tuple(
        getattr(outcomes, f).tobytes() for f in ("cell_a", "cell_b", "cell_side", "pattern_count", "pattern_ptr",
                                                 "row_slot"))


def _remember_fit(key: tuple, r: Ranking) -> Ranking:
    _FITS[key] = r
    while len(_FITS) > _FITS_KEPT:
        _FITS.popitem(last=False)
    return r


def _fit(outcomes: Outcomes, rounds: int, min_votes: int) -> Ranking:
    key = _fit_key(outcomes, rounds, min_votes)
    hit = _FITS.get(key)
    if hit is None:
        return _remember_fit(key, rank(outcomes, rounds=rounds, seed=SEED, min_votes=min_votes))
    _FITS.move_to_end(key)
    return hit


async def _kept_fit(s: AsyncSession, scope: str, outcomes: Outcomes, rounds: int, min_votes: int) -> Ranking:
    """The fit of these counts: from this process's memory, else the database's copy of the
    same counts' fit (a fresh process), else fitted now in a worker thread (numpy work, a
    second or so at a million votes, that would otherwise hold up every other request)."""
    key = _fit_key(outcomes, rounds, min_votes)
    hit = _FITS.get(key)
    if hit is not None:
        _FITS.move_to_end(key)
        return hit
    version = board_cache.digest(key)
    kept = await board_cache.read(s, scope)
    if kept is not None and kept.version == version:
        return _remember_fit(key, board_cache.ranking_of(kept.payload))
    t0 = time.monotonic()
    r = await asyncio.to_thread(rank, outcomes, rounds=rounds, seed=SEED, min_votes=min_votes)
    if time.monotonic() - t0 > SLOW_S:
        await board_cache.write(s, scope, version, board_cache.ranking_bytes(r))
    return _remember_fit(key, r)


async def leaderboard(s: AsyncSession, board_ids: Sequence[str], criterion: str = "overall", *,
                      blind_only: bool = False, rounds: int = ROUNDS, min_votes: int = MIN_VOTES,
                      tag: str | None = None, comparison_ids: Sequence[str] | None = None) -> Ranking:
    """Ratings with 95 % intervals, arena ranks and position bias for these boards' votes."""
    if criterion not in CRITERIA:
        raise InputError(f"unknown criterion {criterion!r}; known: {', '.join(CRITERIA)}")
    outcomes = await load_outcomes(s, board_ids, criterion, blind_only=blind_only, tag=tag, comparison_ids=comparison_ids)
    scope = "fit:" + board_cache.digest((sorted(board_ids), criterion, blind_only, tag,
                                         sorted(comparison_ids) if comparison_ids is not None else None))
    return await _kept_fit(s, scope, outcomes, rounds, min_votes)


def ranking_json(r: Ranking, names: dict[str, str] | None = None) -> dict:
    names = names or {}
    pb = r.position_bias
    return {
        "models": [
            {"rank": m.rank, "model": m.model, "name": names.get(m.model, m.model), "rating": round(m.rating, 1),
             "ci_low": round(m.ci_low, 1), "ci_high": round(m.ci_high, 1), "votes": m.votes, "wins": m.wins,
             "losses": m.losses, "ties": m.ties, "win_rate": None if m.win_rate is None else round(m.win_rate, 4),
             "provisional": m.provisional}
            for m in r.models
        ],
        "position_bias": None if pb is None else {
            "rating": round(pb.rating, 1), "ci_low": round(pb.ci_low, 1), "ci_high": round(pb.ci_high, 1),
            "first_shown_wins": round(pb.first_wins, 4), "votes": pb.votes},
        "tie_param": None if r.tie_param is None else round(r.tie_param, 4),
        "votes": r.votes, "ballots": r.ballots, "bootstrap_rounds": r.rounds, "level": r.level,
        "connected": r.connected,
        "win_rate": {
            a: {b: round(float(r.win_rate_matrix[i, j]), 4)
                for j, b in enumerate(r.matrix_models) if r.games_matrix[i, j] > 0}
            for i, a in enumerate(r.matrix_models)
        },
    }


# ---------------------------------------------------------------------------------------
# The comparison table (docs/leaderboard.md)


@dataclass
class ModelStats:
    """One row of the comparison table. Definitions (also in docs/leaderboard.md):

    win_rate[c]         (wins + ties/2) / pairwise votes on criterion c (votes between two takes
                        of the same model left out)
    failure_rate        failed takes / (ready + failed takes); cancelled and unfinished ones left out
    median_generation_s median of submitted → finished over ready takes
    attempts_to_accept  over the comparisons where one of the model's takes was accepted: the mean
                        number of the model's takes there up to and including the first accepted one
    cost_per_accepted_s everything the model's takes cost (actual cost, else the estimate) / seconds
                        of video in accepted takes — the price of a usable second, re-rolls included
    as_asked_rate       ready takes delivered as asked (app/delivery.py) / ready takes checked
    flagged             ready takes the take checks flagged (mostly black or frozen,
                        app/take_checks.py) / checked_takes, the ready takes they measured;
                        mean_motion, mean_sharpness, mean_hard_cuts: their means over those takes
    actual_cost_usd     what the provider reported for the takes that report it (Runway credits,
                        Ark tokens, Replicate time), over `actual_takes` of them
    """

    model: str
    win_rate: dict[str, float | None] = field(default_factory=dict)
    votes: dict[str, int] = field(default_factory=dict)
    takes: int = 0
    ready: int = 0
    failed: int = 0
    comparisons: int = 0
    accepted_comparisons: int = 0
    attempts_to_accept: float | None = None
    median_generation_s: float | None = None
    cost_usd: float | None = None
    accepted_seconds: float = 0.0
    as_asked: int = 0          # ready takes delivered as asked
    checked: int = 0           # ready takes the delivery check has seen
    flagged: int = 0           # ready takes the take checks flagged
    checked_takes: int = 0     # ready takes the take checks measured
    mean_motion: float | None = None
    mean_sharpness: float | None = None
    mean_hard_cuts: float | None = None
    actual_cost_usd: float | None = None
    actual_takes: int = 0

    @property
    def as_asked_rate(self) -> float | None:
        return self.as_asked / self.checked if self.checked else None

    @property
    def failure_rate(self) -> float | None:
        done = self.ready + self.failed
        return self.failed / done if done else None

    @property
    def cost_per_accepted_s(self) -> float | None:
        if self.cost_usd is None or self.accepted_seconds <= 0:
            return None
        return self.cost_usd / self.accepted_seconds


async def _scan_pair_counts(s: AsyncSession, board_ids: Sequence[str], blind_only: bool, tag: str | None,
                            comparison_ids: Sequence[str] | None) -> dict[tuple, int]:
    """{(criterion, model_a, model_b, winner): votes} of some comparisons, from the votes."""
    cond = [Vote.board_id.in_(list(board_ids)), Vote.superseded_at.is_(None), Vote.model_a != Vote.model_b]
    if blind_only:
        cond.append(Vote.blind.is_(True))
    if tag is not None:
        cond.append(Vote.comparison_id.in_(tagged(tag)))
    if comparison_ids is not None:
        cond.append(Vote.comparison_id.in_(list(comparison_ids)))
    rows = (await s.execute(
        select(Vote.criterion, Vote.model_a, Vote.model_b, Vote.winner, func.count())
        .where(*cond).group_by(Vote.criterion, Vote.model_a, Vote.model_b, Vote.winner))).all()
    return {(c, a, b, w): int(n) for c, a, b, w, n in rows}


async def win_rates(s: AsyncSession, board_ids: Sequence[str], *, blind_only: bool = False, tag: str | None = None,
                    comparison_ids: Sequence[str] | None = None) -> dict[str, dict[str, tuple[float, int]]]:
    """{model: {criterion: (win rate, votes)}} from the active votes, through the ballot
    counts (app.vote_counts), or for a tag's or some comparisons' votes from the votes; votes
    between two takes of the same model are left out."""
    if not board_ids:
        return {}
    if tag is None and comparison_ids is None:
        counts = await vote_counts.pair_counts(s, board_ids, blind_only=blind_only)
    else:
        counts = await _scan_pair_counts(s, board_ids, blind_only, tag, comparison_ids)
    score: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    for (criterion, a, b, winner), n in counts.items():
        if a == b:
            continue
        pa = 1.0 if winner == "model_a" else 0.0 if winner == "model_b" else 0.5
        for model, points in ((a, pa), (b, 1.0 - pa)):
            cell = score[(model, criterion)]
            cell[0] += points * n
            cell[1] += n
    out: dict[str, dict[str, tuple[float, int]]] = defaultdict(dict)
    for (model, criterion), (points, n) in score.items():
        out[model][criterion] = (points / n, int(n))
    return dict(out)


async def comparison_table(s: AsyncSession, board_ids: Sequence[str], *, blind_only: bool = False,
                           tag: str | None = None,
                           comparison_ids: Sequence[str] | None = None) -> list[ModelStats]:
    """Per model, for these boards: the comparison table of docs/leaderboard.md, measured. Best
    overall win rate first.

    Counted in the database (a big board has hundreds of thousands of takes); only the median
    generation time comes through Python on SQLite, which has no percentile function."""
    if not board_ids:
        return []
    ids = list(board_ids)
    if tag is None and comparison_ids is None:
        stats = await take_stats(s, ids)
    else:
        comparisons = select(Comparison.id).where(Comparison.board_id.in_(ids))
        if tag is not None:
            comparisons = comparisons.where(Comparison.id.in_(tagged(tag)))
        on_board = Take.comparison_id.in_(comparisons)
        if comparison_ids is not None:      # a report's or a suite's comparisons only
            on_board = and_(on_board, Take.comparison_id.in_(list(comparison_ids)))
        stats = await _stats_of(s, on_board)
    for model, by_criterion in (await win_rates(s, ids, blind_only=blind_only, tag=tag, comparison_ids=comparison_ids)).items():
        st = stats.setdefault(model, ModelStats(model))
        for criterion, (rate, n) in by_criterion.items():
            st.win_rate[criterion] = rate
            st.votes[criterion] = n

    def order(st: ModelStats):
        rate = st.win_rate.get("overall")
        return (rate is None, -(rate or 0.0), st.model)

    return sorted(stats.values(), key=order)


# The take columns of a big board (those whose count takes longer than SLOW_S) scan every take
# of the board (200,000 on a board of 50,000 comparisons), while the vote columns come from the
# kept counts and are always current. So they are kept: in memory, and in the database for a
# fresh process (app/board_cache.py). A copy older than KEEP_S is still answered, and counted
# again in the background (one count per boards at a time); a fresh process takes the
# database's copy if it is younger than STALE_S, else counts before answering.
SLOW_S, KEEP_S, STALE_S = 0.25, 30.0, 600.0
_TAKE_STATS: OrderedDict[tuple, tuple[float, dict[str, ModelStats]]] = OrderedDict()
_RECOUNTS: dict[tuple, asyncio.Task] = {}


async def take_stats(s: AsyncSession, ids: list[str]) -> dict[str, ModelStats]:
    """Per model: the take counts, attempts to accept and median generation time of these
    boards (fresh copies: the caller adds the vote columns to them)."""
    key = tuple(sorted(ids))
    hit = _TAKE_STATS.get(key) or await _kept_take_stats(s, key)
    if hit is None:
        return await _count_take_stats(s, key)
    if time.time() - hit[0] >= KEEP_S and key not in _RECOUNTS:
        task = asyncio.get_running_loop().create_task(_recount(s.bind, key))
        _RECOUNTS[key] = task
        task.add_done_callback(lambda _: _RECOUNTS.pop(key, None))
    return copy.deepcopy(hit[1])


def _take_key(key: tuple) -> str:
    return "takes:" + board_cache.digest(key)


async def _kept_take_stats(s: AsyncSession, key: tuple) -> tuple[float, dict[str, ModelStats]] | None:
    kept = await board_cache.read(s, _take_key(key))
    if kept is None or time.time() - kept.made_at.timestamp() >= STALE_S:
        return None
    stats = {d["model"]: ModelStats(**d) for d in json.loads(kept.payload)}
    _TAKE_STATS[key] = (kept.made_at.timestamp(), stats)
    return _TAKE_STATS[key]


async def _count_take_stats(s: AsyncSession, key: tuple) -> dict[str, ModelStats]:
    """Count the take columns now; a slow count is kept (memory and database)."""
    t0, made = time.monotonic(), time.time()
    stats = await _stats_of(s, Take.comparison_id.in_(select(Comparison.id).where(Comparison.board_id.in_(key))))
    if time.monotonic() - t0 > SLOW_S:
        _TAKE_STATS[key] = (made, copy.deepcopy(stats))
        while len(_TAKE_STATS) > 32:
            _TAKE_STATS.popitem(last=False)
        payload = json.dumps([dataclasses.asdict(st) for st in stats.values()]).encode()
        await board_cache.write(s, _take_key(key), "", payload, datetime.fromtimestamp(made, timezone.utc))
    return stats


async def _recount(engine, key: tuple) -> None:
    """The background recount of a kept copy, in a session of its own."""
    try:
        async with AsyncSession(engine, expire_on_commit=False) as s:
            await _count_take_stats(s, key)
    except Exception:   # the kept copy stays; the next request past KEEP_S tries again
        log.exception("recounting the take columns of %s failed", key)


async def _stats_of(s: AsyncSession, on_board) -> dict[str, ModelStats]:
    """Every take column of the table for the takes `on_board` selects."""
    stats = await _take_counts(s, on_board)
    await _add_take_checks(s, stats, on_board)
    await _add_attempts_to_accept(s, stats, on_board)
    await _add_median_generation(s, stats, on_board)
    return stats


async def _take_counts(s: AsyncSession, on_board) -> dict[str, ModelStats]:
    """A row per model with takes on the boards: takes, ready, failed, comparisons, cost (the
    provider's reported cost, else the estimate) and seconds of accepted video, in one query."""
    spent = func.coalesce(Take.actual_cost_usd, Take.cost_usd, Take.cost_estimate_usd)
    ready = Take.status == "ready"
    stats: dict[str, ModelStats] = {}
    for model, takes, n_ready, n_failed, cost, n_cost, seconds, comparisons, n_asked, n_checked in (await s.execute(
        select(Take.model_id, func.count(), func.sum(case((ready, 1), else_=0)),
               func.sum(case((Take.status == "failed", 1), else_=0)), func.sum(spent), func.count(spent),
               func.sum(case((ready & Take.accepted.is_(True), func.coalesce(Take.duration_s, 0.0)), else_=0.0)),
               func.count(func.distinct(Take.comparison_id)),
               func.sum(case((ready & Take.as_asked.is_(True), 1), else_=0)),
               func.sum(case((ready & Take.as_asked.is_not(None), 1), else_=0)))
        .where(on_board).group_by(Take.model_id)
    )).all():
        stats[model] = ModelStats(model, takes=int(takes), ready=int(n_ready or 0), failed=int(n_failed or 0),
                                  comparisons=int(comparisons), cost_usd=float(cost) if n_cost else None,
                                  accepted_seconds=float(seconds or 0.0), as_asked=int(n_asked or 0),
                                  checked=int(n_checked or 0))
    return stats


async def _add_take_checks(s: AsyncSession, stats: dict[str, ModelStats], on_board) -> None:
    """Per model, over its ready takes: the take checks' flags and means (app/take_checks.py),
    and the actual cost where the provider reported one."""
    ready = Take.status == "ready"
    measured = ready & Take.checks_flagged.is_not(None)
    for model, flagged, checked, motion, sharp, cuts, actual, n_actual in (await s.execute(
        select(Take.model_id, func.sum(case((ready & Take.checks_flagged.is_(True), 1), else_=0)),
               func.sum(case((measured, 1), else_=0)), func.avg(case((measured, Take.motion))),
               func.avg(case((measured, Take.sharpness))), func.avg(case((measured, Take.hard_cuts))),
               func.sum(Take.actual_cost_usd), func.count(Take.actual_cost_usd))
        .where(on_board).group_by(Take.model_id)
    )).all():
        st = stats[model]
        st.flagged, st.checked_takes = int(flagged or 0), int(checked or 0)
        st.mean_motion = None if motion is None else float(motion)
        st.mean_sharpness = None if sharp is None else float(sharp)
        st.mean_hard_cuts = None if cuts is None else float(cuts)
        st.actual_cost_usd, st.actual_takes = (float(actual) if n_actual else None), int(n_actual or 0)


async def _add_attempts_to_accept(s: AsyncSession, stats: dict[str, ModelStats], on_board) -> None:
    """Attempts to the first accepted take, per (comparison, model) that has one: every take
    of that model up to the first accepted attempt counts, failed ones included."""
    first = (select(Take.comparison_id, Take.model_id, func.min(Take.attempt).label("first"))
             .where(on_board, Take.accepted.is_(True)).group_by(Take.comparison_id, Take.model_id).subquery())
    for model, pairs, attempts in (await s.execute(
        select(first.c.model_id, func.count(func.distinct(first.c.comparison_id)), func.count())
        .join(Take, (Take.comparison_id == first.c.comparison_id) & (Take.model_id == first.c.model_id)
              & (Take.attempt <= first.c.first))
        .group_by(first.c.model_id)
    )).all():
        st = stats[model]
        st.accepted_comparisons = int(pairs)
        st.attempts_to_accept = int(attempts) / int(pairs)


async def _add_median_generation(s: AsyncSession, stats: dict[str, ModelStats], on_board) -> None:
    """Median submission → finished clip over the ready takes: percentile_cont on PostgreSQL;
    SQLite has no percentile function, so its timings are streamed through Python."""
    timed = (Take.status == "ready", Take.submitted_at.is_not(None), Take.finished_at.is_not(None), on_board)
    if (await s.connection()).dialect.name == "postgresql":
        seconds = func.extract("epoch", Take.finished_at - Take.submitted_at)
        for model, median in (await s.execute(
                select(Take.model_id, func.percentile_cont(0.5).within_group(seconds))
                .where(*timed).group_by(Take.model_id))).all():
            stats[model].median_generation_s = float(median)
        return
    gen: dict[str, list[float]] = defaultdict(list)
    result = await s.stream(select(Take.model_id, Take.submitted_at, Take.finished_at).where(*timed)
                            .execution_options(yield_per=10_000))
    async for model, sub, fin in result:
        gen[model].append((fin - sub).total_seconds())
    for model, values in gen.items():
        stats[model].median_generation_s = statistics.median(values)


def stats_json(st: ModelStats, names: dict[str, str] | None = None) -> dict:
    return {
        "model": st.model, "name": (names or {}).get(st.model, st.model),
        "win_rate": {k: round(v, 4) for k, v in st.win_rate.items() if v is not None}, "votes": st.votes,
        "takes": st.takes, "ready": st.ready, "failed": st.failed,
        "failure_rate": None if st.failure_rate is None else round(st.failure_rate, 4),
        "median_generation_s": None if st.median_generation_s is None else round(st.median_generation_s, 2),
        "comparisons": st.comparisons, "accepted_comparisons": st.accepted_comparisons,
        "attempts_to_first_accept": None if st.attempts_to_accept is None else round(st.attempts_to_accept, 3),
        "cost_usd": None if st.cost_usd is None else round(st.cost_usd, 4),
        "accepted_seconds": round(st.accepted_seconds, 3),
        "cost_per_accepted_second": None if st.cost_per_accepted_s is None else round(st.cost_per_accepted_s, 4),
        "as_asked": st.as_asked, "checked": st.checked,
        "as_asked_rate": None if st.as_asked_rate is None else round(st.as_asked_rate, 4),
        "flagged": st.flagged, "checked_takes": st.checked_takes,
        "mean_motion": _round(st.mean_motion, 3), "mean_sharpness": _round(st.mean_sharpness, 1),
        "mean_hard_cuts": _round(st.mean_hard_cuts, 3),
        "actual_cost_usd": _round(st.actual_cost_usd, 4), "actual_takes": st.actual_takes,
    }


def _round(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)


# ---------------------------------------------------------------------------------------
# CSV exports (streamed: one board and criterion at a time)

LEADERBOARD_COLUMNS = [
    "board", "criterion", "rank", "model", "model_name", "rating", "ci_low", "ci_high", "votes", "wins",
    "losses", "ties", "win_rate", "provisional", "position_bias", "position_bias_ci_low",
    "position_bias_ci_high",
]
TABLE_COLUMNS = (
    ["board", "model", "model_name"]
    + [f"win_rate_{k}" for k in CRITERIA] + [f"votes_{k}" for k in CRITERIA]
    + ["takes", "ready", "failed", "failure_rate", "median_generation_s", "comparisons",
       "accepted_comparisons", "attempts_to_first_accept", "cost_usd", "accepted_seconds",
       "cost_per_accepted_second", "as_asked", "checked", "as_asked_rate", "flagged", "checked_takes",
       "mean_motion", "mean_sharpness", "mean_hard_cuts", "actual_cost_usd", "actual_takes"]
)
ALL_BOARDS = "*"   # the `board` column of rows computed over every visible board together


def _num(v, digits: int = 4) -> str:
    return "" if v is None else str(round(v, digits)) if isinstance(v, float) else str(v)


def _scopes(boards: Sequence[Board], together: bool) -> list[tuple[str, list[str]]]:
    if together:
        return [(ALL_BOARDS, [b.id for b in boards])]
    return [(b.slug, [b.id]) for b in boards]


async def leaderboard_csv(s: AsyncSession, boards: Sequence[Board], *, together: bool = False,
                          criterion: str | None = None, blind_only: bool = False,
                          names: dict[str, str] | None = None, with_header: bool = True,
                          tag: str | None = None) -> AsyncIterator[bytes]:
    """One row per board (or all of them together), criterion with votes, and model; the
    board's position bias repeated on each of its rows, so one sheet filter gives a board.
    `tag`: only the votes of comparisons with that tag, as `?tag=` on the leaderboard."""
    names = names or {}
    lines = CsvLines()
    if with_header:
        yield header(LEADERBOARD_COLUMNS)
    for scope, ids in _scopes(boards, together):
        for crit in ([criterion] if criterion else await criteria_with_votes(s, ids)):
            r = await leaderboard(s, ids, crit, blind_only=blind_only, tag=tag)
            pb = r.position_bias
            bias = ["", "", ""] if pb is None else [_num(pb.rating, 1), _num(pb.ci_low, 1), _num(pb.ci_high, 1)]
            rows = [[scope, crit, m.rank, m.model, names.get(m.model, m.model), _num(m.rating, 1), _num(m.ci_low, 1),
                     _num(m.ci_high, 1), m.votes, m.wins, m.losses, m.ties, _num(m.win_rate),
                     "true" if m.provisional else "false", *bias] for m in r.models]
            if rows:
                yield lines.rows(rows).encode()


async def comparison_table_csv(s: AsyncSession, boards: Sequence[Board], *, together: bool = False,
                               blind_only: bool = False, names: dict[str, str] | None = None,
                               with_header: bool = True, tag: str | None = None) -> AsyncIterator[bytes]:
    """The comparison table per board (or together); `tag` as in leaderboard_csv."""
    names = names or {}
    lines = CsvLines()
    if with_header:
        yield header(TABLE_COLUMNS)
    for scope, ids in _scopes(boards, together):
        rows = []
        for st in await comparison_table(s, ids, blind_only=blind_only, tag=tag):
            rows.append([scope, st.model, names.get(st.model, st.model)]
                        + [_num(st.win_rate.get(k)) for k in CRITERIA] + [st.votes.get(k, 0) for k in CRITERIA]
                        + [st.takes, st.ready, st.failed, _num(st.failure_rate), _num(st.median_generation_s, 2),
                           st.comparisons, st.accepted_comparisons, _num(st.attempts_to_accept, 3),
                           _num(st.cost_usd), _num(st.accepted_seconds, 3), _num(st.cost_per_accepted_s),
                           st.as_asked, st.checked, _num(st.as_asked_rate), st.flagged, st.checked_takes,
                           _num(st.mean_motion, 3), _num(st.mean_sharpness, 1), _num(st.mean_hard_cuts, 3),
                           _num(st.actual_cost_usd), st.actual_takes])
        if rows:
            yield lines.rows(rows).encode()
