"""Do the leaderboard's 95 % intervals cover the true strengths, per ballot kind?

    nice -n 10 python bench/coverage.py [--boards 200] [--ballots 300] [--models 8] [--seed 1]

Each simulated board has `--models` models with known strengths θ ~ N(0, 0.7²) nats (centred),
a tie propensity ν = 0.5 (a fifth of the votes between equals are ties) and a first-shown
advantage β = 0.15 nats, and `--ballots` ballots of one kind:

* pair      — two takes, Davidson outcome (win / loss / tie) with the first-shown take's edge;
* best-of-4 — four takes on screen, the voter picks one: a Plackett–Luce choice (utilities θ
  plus a Gumbel draw) with a position effect falling linearly across the screen, scaled so
  that the mean gap over pairs is β;
* ranking   — the same four takes ranked (Plackett–Luce, i.e. the order of θ + Gumbel);
* mixed     — a third of each, as on a board that has two-take and four-take comparisons.

Multi-way ballots in Takes never hold a tie (votes.py), so ties come from pair ballots only.
Ballots are stored as votes.py stores them (every pair with the first-shown take as `a`) and
fitted by `app.ranking.rank`. Coverage is reported twice: over every model's interval on every
board (its 95 % CI uses the spread of per-board coverage, since the intervals of one board are
not independent), and for one model per board (the first model — exact Clopper–Pearson CI).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from app.ranking import A_WINS, B_WINS, ELO, TIE, Outcomes, rank  # noqa: E402

KINDS = ("pair", "best-of-4", "ranking", "mixed")
NU, BETA, SPREAD, SHOWN = 0.5, 0.15, 0.7, 4


def strengths(rng: np.random.Generator, m: int) -> np.ndarray:
    theta = rng.normal(0.0, SPREAD, m)
    return theta - theta.mean()


def pair_rows(rng, theta, n, nu=NU, beta=BETA):
    """n pair ballots: (a = first shown, b, outcome)."""
    m = len(theta)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    h = 0.5 * (theta[a] - theta[b] + beta)
    pa, pb = np.exp(h), np.exp(-h)
    u = rng.random(n) * (pa + pb + nu)
    return a, b, np.where(u < pa, A_WINS, np.where(u < pa + pb, B_WINS, TIE))


def multi_order(rng, theta, n, shown=SHOWN, beta=BETA):
    """n screens of `shown` distinct models (column = screen position) and, per screen, the
    positions in the order a Plackett–Luce voter ranks them (best first)."""
    m = len(theta)
    screens = np.argsort(rng.random((n, m)), axis=1)[:, :shown]
    gap = np.mean([q - p for p in range(shown) for q in range(p + 1, shown)])
    position = -beta / gap * np.arange(shown)
    utility = theta[screens] + position + rng.gumbel(size=(n, shown))
    return screens, np.argsort(-utility, axis=1)


def multi_rows(screens, order, kind):
    """Pairs as votes.py stores them: every pair with the first-shown take as `a`."""
    n, shown = screens.shape
    if kind == "ranking":
        pairs = [(order[:, i], order[:, j]) for i in range(shown) for j in range(i + 1, shown)]
    else:  # best-of-N: the pick beats each other take
        pairs = [(order[:, 0], np.sort(order[:, 1:], axis=1)[:, j]) for j in range(shown - 1)]
    ballot, a, b, outcome = [], [], [], []
    for win_pos, lose_pos in pairs:
        first = np.minimum(win_pos, lose_pos)
        second = np.maximum(win_pos, lose_pos)
        ballot.append(np.arange(n))
        a.append(screens[np.arange(n), first])
        b.append(screens[np.arange(n), second])
        outcome.append(np.where(first == win_pos, A_WINS, B_WINS))
    return tuple(np.concatenate(x) for x in (ballot, a, b, outcome))


def board(rng, theta, n, kind) -> Outcomes:
    """A simulated board of n ballots of one kind ("mixed": a third each)."""
    names = [f"m{i}" for i in range(len(theta))]
    if kind == "mixed":
        k = [n - 2 * (n // 3), n // 3, n // 3]
        parts = [_rows(rng, theta, c, s) for c, s in zip(k, ("pair", "best-of-4", "ranking"))]
        offset, cols = 0, [[], [], [], []]
        for ballot, a, b, o in parts:
            for col, x in zip(cols, (ballot + offset, a, b, o)):
                col.append(x)
            offset += int(ballot.max()) + 1 if len(ballot) else 0
        return Outcomes.from_arrays(names, *(np.concatenate(c) for c in cols))
    return Outcomes.from_arrays(names, *_rows(rng, theta, n, kind))


def _rows(rng, theta, n, kind):
    if kind == "pair":
        a, b, o = pair_rows(rng, theta, n)
        return np.arange(n), a, b, o
    screens, order = multi_order(rng, theta, n)
    return multi_rows(screens, order, "ranking" if kind == "ranking" else "best")


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    from scipy.stats import beta as beta_dist

    a = (1 - level) / 2
    lo = 0.0 if k == 0 else beta_dist.ppf(a, k, n - k + 1)
    hi = 1.0 if k == n else beta_dist.ppf(1 - a, k + 1, n - k)
    return float(lo), float(hi)


def coverage(kind: str, boards: int, ballots: int, models: int, seed: int, rounds: int, **fit) -> dict:
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    per_board, first, widths, bias = [], [], [], []
    for _ in range(boards):
        theta = strengths(rng, models)
        r = rank(board(rng, theta, ballots, kind), rounds=rounds, seed=int(rng.integers(2**31)), **fit)
        by = r.by_model()
        lo = np.array([(by[f"m{i}"].ci_low - 1000) / ELO for i in range(models)])
        hi = np.array([(by[f"m{i}"].ci_high - 1000) / ELO for i in range(models)])
        hit = (lo <= theta) & (theta <= hi)
        per_board.append(hit.mean())
        first.append(bool(hit[0]))
        widths.append(np.median(hi - lo) * ELO)
        if r.position_bias is not None:
            bias.append(r.position_bias.rating / ELO)
    per_board = np.array(per_board)
    mean, se = per_board.mean(), per_board.std(ddof=1) / np.sqrt(boards)
    k = int(np.sum(first))
    return {"kind": kind, "all": mean, "all_ci": (mean - 1.96 * se, mean + 1.96 * se), "first": k / boards,
            "first_ci": clopper_pearson(k, boards), "width": float(np.median(widths)),
            "beta": float(np.mean(bias)) if bias else float("nan")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--boards", type=int, default=200)
    p.add_argument("--ballots", type=int, default=300)
    p.add_argument("--models", type=int, default=8)
    p.add_argument("--rounds", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--kinds", default=",".join(KINDS))
    args = p.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{args.boards} boards per kind × {args.ballots} ballots, {args.models} models, {args.rounds} "
          f"bootstrap rounds, seed {args.seed}; ν = {NU}, β = {BETA} nats, θ ~ N(0, {SPREAD}²)")
    print(f"{'kind':<10} {'all intervals [95% CI]':<28} {'first model [exact 95% CI]':<30} "
          f"{'median width':>12} {'mean β̂':>7}")
    for kind in args.kinds.split(","):
        t = time.perf_counter()
        c = coverage(kind, args.boards, args.ballots, args.models, args.seed, args.rounds)
        print(f"{kind:<10} {c['all']:.3f} [{c['all_ci'][0]:.3f}, {c['all_ci'][1]:.3f}]{'':<8} "
              f"{c['first']:.3f} [{c['first_ci'][0]:.3f}, {c['first_ci'][1]:.3f}]{'':<10} "
              f"{c['width']:>9.0f} pt {c['beta']:>7.3f}   ({time.perf_counter() - t:.0f} s)")
    print(f"true β = {BETA}; load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
