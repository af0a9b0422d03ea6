"""tests/support/schedule.py: the long tests go to the fronts of different worksteal shares."""

from tests.support.schedule import _shares, spread


def test_shares_are_cut_as_worksteal_cuts_them():
    assert _shares(1429, 3) == [476, 476, 477]
    assert _shares(10, 4) == [2, 2, 3, 3]
    assert sum(_shares(7, 3)) == 7


def test_long_tests_lead_different_shares_longest_first_and_the_rest_keep_their_order():
    weights = {"f1": 110, "f2": 105, "f3": 110, "f4": 105, "k": 50, "a": 45}
    items = ["t0", "f1", "f2", "f3", "f4", "t1", "k", "t2", "a"] + [f"u{i}" for i in range(21)]
    out = spread(items, 3, lambda it: weights.get(it, 0))
    assert sorted(out) == sorted(items)                     # nothing lost or doubled
    sizes = _shares(len(items), 3)                          # 10, 10, 10
    shares = [out[:sizes[0]], out[sizes[0]:sizes[0] + sizes[1]], out[sizes[0] + sizes[1]:]]
    fronts = [[it for it in share if it in weights] for share in shares]
    # every share starts with its long tests: longest first onto the least loaded share
    assert all(share[:len(front)] == front for share, front in zip(shares, fronts))
    assert fronts == [["f1", "k"], ["f3", "a"], ["f2", "f4"]]
    rest = [it for it in out if it not in weights]
    assert rest == [it for it in items if it not in weights]   # the others in collection order


def test_without_long_tests_or_workers_nothing_moves():
    items = list("abcdef")
    assert spread(items, 3, lambda it: 0) == items
    assert spread(items, 1, lambda it: 5) == items
