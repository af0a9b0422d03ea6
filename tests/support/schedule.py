"""Where the long tests run under pytest-xdist's worksteal (the Makefile's `-n 3 --dist
worksteal`): each at the front of a different worker's share, so they start at once and
never end up together at the end of one worker.

Why: worksteal first hands each worker one contiguous share of the collection (a third each
on three workers); a worker runs its share from the front and the others steal from its
back. Left in collection order, the fuzz gate's four runs (90–125 s each) sat in one share
and ran one after another on one worker at the end of the run: that worker finished 155 s
after the other two, which were idle meanwhile (a run of 1,429 tests at 0d9f1f7:
862 s against 707 s of test time per worker, docs/benchmarks.md).

A test marked `@pytest.mark.long(seconds)` (its measured wall time) is placed greedily, the
longest first, at the front of the share that has the least long work so far; every other
test keeps its order (so module fixtures, one browser per module, are set up as before). The
shares are computed as xdist's worksteal scheduler cuts them (`len(pending) // nodes left`);
if that ever changes, the long tests still run early, only less evenly spread."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "long(seconds): a long test, started first on its own worker "
                                       "(tests/support/schedule.py)")


def _shares(n: int, workers: int) -> list[int]:
    """The sizes of the first shares worksteal sends (xdist.scheduler.worksteal.check_schedule)."""
    sizes, left = [], n
    for i in range(workers):
        size = left // (workers - i)
        sizes.append(size)
        left -= size
    return sizes


def spread(items: list, workers: int, weight) -> list:
    """`items` reordered: those with a weight at the fronts of the `workers` shares, longest
    first onto the least loaded share; the rest in their order filling each share up."""
    long = sorted((it for it in items if weight(it)), key=lambda it: -weight(it))
    if workers < 2 or not long:
        return items
    chosen = {id(it) for it in long}
    rest = [it for it in items if id(it) not in chosen]
    fronts: list[list] = [[] for _ in range(workers)]
    load = [0.0] * workers
    sizes = _shares(len(items), workers)
    for it in long:
        open_ = [i for i in range(workers) if len(fronts[i]) < sizes[i]]
        i = min(open_, key=lambda k: load[k])
        fronts[i].append(it)
        load[i] += weight(it)
    out, pos = [], 0
    for i in range(workers):
        take = sizes[i] - len(fronts[i])
        out += fronts[i] + rest[pos:pos + take]
        pos += take
    return out + rest[pos:]


def _weight(item) -> float:
    mark = item.get_closest_marker("long")
    return float(mark.args[0]) if mark and mark.args else (60.0 if mark else 0.0)


def _worksteal(config) -> bool:
    """Whether the controller schedules with worksteal. A worker's own `--dist` reads "no", so
    the controller's command line (xdist's `workerinput["mainargv"]`) is asked."""
    argv = list(getattr(config, "workerinput", {}).get("mainargv", []))
    for i, arg in enumerate(argv):
        if arg == "--dist" and i + 1 < len(argv):
            return argv[i + 1] == "worksteal"
        if arg.startswith("--dist="):
            return arg.split("=", 1)[1] == "worksteal"
    return False


@pytest.hookimpl(trylast=True)   # after `-m` and `-k` have deselected: the shares count what runs
def pytest_collection_modifyitems(config, items):
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if workers > 1 and _worksteal(config):
        items[:] = spread(items, workers, _weight)
