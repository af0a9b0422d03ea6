"""A big board's leaderboard work kept between processes (app/board_cache.py): a fresh
process takes the fit of the same counts from the database instead of fitting, never a fit of
other counts; it takes the take columns if young enough and counts them again in the
background once they are older than KEEP_S. "Slow" is forced (SLOW_S = -1) so small boards
take the big board's path; "a fresh process" is the in-memory copies cleared."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from sqlalchemy import func, select

from app import board_cache
from app import leaderboard as lb
from app.models import BoardCache
from tests.support.factories import make_board, ready_comparison
from tests.support.votes import crafted_votes

MODELS = ("demo/aurora", "demo/blocks", "demo/ember")


@pytest.fixture
def fresh(monkeypatch):
    """Every result counts as slow; returns "a new process": memory emptied."""
    monkeypatch.setattr(lb, "SLOW_S", -1.0)

    def restart():
        lb._FITS.clear()
        lb._TAKE_STATS.clear()

    restart()
    yield restart
    restart()


async def _board_with_votes(app, name="Big board"):
    board = await make_board(app, name, random_slug=True)
    cs = [await ready_comparison(app, board, MODELS, source_image=False) for _ in range(2)]
    await crafted_votes(app, board, cs, [("demo/aurora", "demo/blocks", 14), ("demo/blocks", "demo/ember", 9),
                                         ("demo/ember", "demo/aurora", 5)])
    return board, cs


async def test_a_fresh_process_takes_the_kept_fit_of_the_same_counts(app, fresh, monkeypatch):
    board, cs = await _board_with_votes(app)
    async with app.state.db.session() as s:
        first = await lb.leaderboard(s, [board.id], rounds=50)
        assert (await s.execute(select(func.count()).select_from(BoardCache))).scalar_one() == 1
    fresh()
    fits = []
    monkeypatch.setattr(lb, "rank", lambda *a, **k: fits.append(1) or pytest.fail("refitted"))
    async with app.state.db.session() as s:
        again = await lb.leaderboard(s, [board.id], rounds=50)
    assert not fits
    assert [(m.model, m.rating, m.ci_low, m.rank) for m in again.models] == \
        [(m.model, m.rating, m.ci_low, m.rank) for m in first.models]
    assert again.position_bias == first.position_bias and again.tie_param_ci == first.tie_param_ci
    np.testing.assert_array_equal(again.draws, first.draws)
    np.testing.assert_array_equal(again.games_matrix, first.games_matrix)


async def test_new_counts_are_fitted_again_and_replace_the_kept_fit(app, fresh):
    board, cs = await _board_with_votes(app)
    async with app.state.db.session() as s:
        before = await lb.leaderboard(s, [board.id], rounds=50)
    await crafted_votes(app, board, cs, [("demo/ember", "demo/blocks", 30)])
    fresh()
    async with app.state.db.session() as s:
        after = await lb.leaderboard(s, [board.id], rounds=50)
        rows = (await s.execute(select(BoardCache))).scalars().all()
    assert after.votes == before.votes + 30
    assert len(rows) == 1 and rows[0].version == board_cache.digest(
        lb._fit_key(await _outcomes(app, board), 50, lb.MIN_VOTES))


async def _outcomes(app, board):
    async with app.state.db.session() as s:
        return await lb.load_outcomes(s, [board.id])


async def test_take_columns_from_the_database_then_counted_again_in_the_background(app, fresh, monkeypatch):
    board, cs = await _board_with_votes(app)
    async with app.state.db.session() as s:
        counted = await lb.take_stats(s, [board.id])
    assert counted["demo/aurora"].takes == 2
    await ready_comparison(app, board, MODELS, source_image=False)     # a third comparison's takes
    fresh()
    async with app.state.db.session() as s:
        kept = await lb.take_stats(s, [board.id])
    assert kept["demo/aurora"].takes == 2                      # the kept copy, younger than KEEP_S
    monkeypatch.setattr(lb, "KEEP_S", 0.0)
    async with app.state.db.session() as s:
        served = await lb.take_stats(s, [board.id])            # still the copy: counted behind it
        assert served["demo/aurora"].takes == 2
        await asyncio.gather(*list(lb._RECOUNTS.values()))
    assert lb._TAKE_STATS[(board.id,)][1]["demo/aurora"].takes == 3
    fresh()
    async with app.state.db.session() as s:
        assert (await lb.take_stats(s, [board.id]))["demo/aurora"].takes == 3   # and kept for the next process


async def test_a_kept_copy_older_than_stale_s_is_counted_again_first(app, fresh, monkeypatch):
    board, cs = await _board_with_votes(app)
    async with app.state.db.session() as s:
        await lb.take_stats(s, [board.id])
    await ready_comparison(app, board, MODELS, source_image=False)
    fresh()
    later = time.time() + lb.STALE_S + 1
    monkeypatch.setattr(lb.time, "time", lambda: later)
    async with app.state.db.session() as s:
        assert (await lb.take_stats(s, [board.id]))["demo/aurora"].takes == 3
