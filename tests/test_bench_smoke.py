"""The load benchmarks' own arithmetic (bench/_load.py): a wrong ratio, percentile or lost-vote
check would print a wrong verdict with real-looking figures."""

from __future__ import annotations

import math
import os

import pytest

from bench import _load


def test_ratio_is_the_median_of_per_run_ratios():
    # run 2 was slowed by a neighbour on both sides: its own ratio stays sane
    ratio, ratios = _load.median_ratio([100, 50, 120], [1000, 500, 1000])
    assert ratios == [0.1, 0.1, 0.12]
    assert ratio == 0.1
    # the median of the per-run ratios (0.1, 2, 3), not the ratio of the medians (2 / 3)
    assert _load.median_ratio([1, 2, 9], [10, 1, 3])[0] == 2
    with pytest.raises(ValueError):
        _load.median_ratio([1, 2], [1])


def test_percentile_nearest_rank():
    values = list(range(1, 101))          # 1 … 100
    assert _load.percentile(values, 50) == 50
    assert _load.percentile(values, 99) == 99
    assert _load.percentile(values, 100) == 100
    assert _load.percentile([7.0], 99) == 7.0
    assert math.isnan(_load.percentile([], 50))


def test_lost_votes_names_every_acknowledged_id_missing_from_the_table():
    acked = ["v1", "v2", "v3", "v4"]
    assert _load.lost_votes(acked, {"v1", "v2", "v3", "v4", "extra"}) == []
    assert _load.lost_votes(acked, {"v1", "v3"}) == ["v2", "v4"]
    assert _load.lost_votes(acked, set()) == acked


def test_interleave_swaps_the_order_every_other_run():
    order = []
    t, a = _load.interleave(3, lambda: order.append("t") or len(order), lambda: order.append("a") or len(order))
    assert order == ["t", "a", "a", "t", "t", "a"]
    assert (t, a) == ([1, 4, 5], [2, 3, 6])


def test_cell_rates_and_cpu_per_request():
    c = _load.Cell(requests=200, seconds=4.0, bytes=80_000_000, server_cpu_s=1.5)
    assert c.rate == 50
    assert c.mb_s == 20
    assert c.cpu_ms_per_request == 7.5
    assert c.cpu_ms_per_mb == 1500 / 80
    empty = _load.Cell(requests=0, seconds=1.0).json()
    assert empty["server_cpu_ms_per_request"] is None        # NaN would not be JSON


def test_median_over_runs_leaves_out_runs_without_a_figure():
    # a 3-s cell of full 20 MB GETs may complete no answer: no latency, not a latency of 0
    runs = [_load.Cell(requests=n, seconds=1.0, p50_ms=p) for n, p in ((39, 1700.0), (0, float("nan")), (20, 1760.0))]
    assert _load.med(runs, "p50_ms") == 1730.0
    assert math.isnan(_load.med(runs[1:2], "p50_ms"))
    assert _load.latency(runs, "p50_ms", conns=64) == "1,730.0*"     # fewer than 2 answers per connection
    assert _load.latency(runs[:1], "p50_ms", conns=8) == "1,700.0"


def test_tree_cpu_counts_this_process():
    before = _load.tree_cpu(os.getpid())
    end = _load.time.process_time() + 0.05
    while _load.time.process_time() < end:
        pass
    assert _load.tree_cpu(os.getpid()) >= before + 0.02

