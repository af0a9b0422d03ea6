"""Leaderboard fit speed: 1,000,000 votes over 100 models, 1,000 bootstrap rounds.

    python bench/ranking.py [--votes 1000000] [--models 100] [--rounds 1000] [--lr-rounds 3]

Times `app.ranking.rank` (Davidson fit on aggregated cells + whole-ballot bootstrap) and, on
the same votes, the per-vote logistic-regression bootstrap as FastChat computes Chatbot
Arena's intervals (`compute_mle_elo` on each resample of the vote rows; ties entered once
each way; unregularised). The baseline uses scipy's L-BFGS on a sparse design matrix
instead of scikit-learn's dense one, which only makes it faster; it runs `--lr-rounds`
rounds and is scaled to the full count.

OpenBLAS is limited to one thread per worker before numpy loads: on a shared 2-core machine
its spinning threads slow small matrix products down more than they help.
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


def synthetic_votes(n: int, m: int, seed: int = 0):
    """Pair votes from the Davidson model: strengths ~ N(0, 0.8²) nats, ν = 0.5 (≈ 20 % ties
    between equals), a first-shown advantage of 0.1 nats, screen sides shuffled."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 0.8, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    side = rng.choice(np.array([-1, 1]), n)
    h = 0.5 * (theta[a] - theta[b] + 0.1 * side)
    pa, pb = np.exp(h), np.exp(-h)
    z = pa + pb + 0.5
    u = rng.random(n)
    outcome = np.where(u < pa / z, A_WINS, np.where(u < (pa + pb) / z, B_WINS, TIE))
    return theta, a, b, outcome, side


def lr_fit(a, b, y, m, start=None):
    """Unregularised logistic regression P(a wins) = σ(θa − θb) on individual rows (FastChat's
    model), L-BFGS on a sparse ±1 design matrix; first model pinned at 0."""
    from scipy import sparse
    from scipy.optimize import minimize

    n = len(a)
    x = sparse.csr_matrix((np.r_[np.ones(n), -np.ones(n)], (np.r_[np.arange(n), np.arange(n)], np.r_[a, b])),
                          shape=(n, m))[:, 1:]
    xt = x.T.tocsr()

    def f(w):
        z = x @ w
        loss = np.sum(np.logaddexp(0, z)) - y @ z
        return loss, xt @ (1 / (1 + np.exp(-z)) - y)

    res = minimize(f, np.zeros(m - 1) if start is None else start, jac=True, method="L-BFGS-B",
                   options={"maxiter": 1000, "ftol": 1e-12, "gtol": 1e-6})
    theta = np.r_[0.0, res.x]
    return 1000 + ELO * (theta - theta.mean()), res


def fastchat_rows(a, b, outcome):
    """FastChat's preprocessing: a tie becomes one win each way."""
    tie = outcome == TIE
    return (np.r_[a, a[tie]], np.r_[b, b[tie]],
            np.r_[(outcome == A_WINS).astype(float), np.ones(tie.sum())])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--votes", type=int, default=1_000_000)
    p.add_argument("--models", type=int, default=100)
    p.add_argument("--rounds", type=int, default=1000)
    p.add_argument("--lr-rounds", type=int, default=3, help="baseline bootstrap rounds actually run")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of rank(); the best is reported")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    theta, a, b, outcome, side = synthetic_votes(args.votes, args.models, args.seed)
    names = [f"model-{i:03d}" for i in range(args.models)]

    t = time.perf_counter()
    out = Outcomes.from_arrays(names, np.arange(args.votes), a, b, outcome, side)
    t_agg = time.perf_counter() - t
    print(f"{args.votes:,} votes, {args.models} models: {len(out.cell_a):,} cells, "
          f"{len(out.pattern_count):,} ballot patterns; aggregating raw rows took {t_agg:.3f} s "
          "(the app aggregates with GROUP BY in SQL)")

    result = {}
    for workers in (1, 2):
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            r = rank(out, rounds=args.rounds, seed=args.seed, workers=workers)
            times.append(time.perf_counter() - t)
        result[workers] = (min(times), r)
        print(f"rank(): fit + {args.rounds} bootstrap rounds, workers={workers}: best {min(times):.3f} s "
              f"(runs: {', '.join(f'{x:.3f}' for x in times)})")
    best = min(result[1][0], result[2][0])
    r = result[1][1]
    widths = np.array([x.ci_high - x.ci_low for x in r.models])
    print(f"  median 95 % CI width {np.median(widths):.1f} points; position bias "
          f"{r.position_bias.rating:.1f} [{r.position_bias.ci_low:.1f}, {r.position_bias.ci_high:.1f}] "
          f"(true {ELO * 0.1:.1f}); ν = {r.tie_param:.3f} (true 0.5)")

    la, lb, ly = fastchat_rows(a, b, outcome)
    t = time.perf_counter()
    point, res = lr_fit(la, lb, ly, args.models)
    t_point = time.perf_counter() - t
    ours = np.array([r.by_model()[n].rating for n in names])
    print(f"per-vote LR point fit: {t_point:.2f} s ({res.nit} L-BFGS iterations); "
          f"same top-10 order as rank(): "
          f"{list(np.argsort(-point)[:10]) == list(np.argsort(-ours)[:10])}")
    rng = np.random.default_rng(args.seed)
    n = len(a)
    t = time.perf_counter()
    for _ in range(args.lr_rounds):
        idx = rng.integers(0, n, n)              # resample votes, as FastChat's get_bootstrap_result
        lr_fit(*fastchat_rows(a[idx], b[idx], outcome[idx]), args.models)
    per_round = (time.perf_counter() - t) / args.lr_rounds
    lr_total = per_round * args.rounds
    print(f"per-vote LR bootstrap: {per_round:.2f} s per round, × {args.rounds} = {lr_total:.0f} s (scaled from "
          f"{args.lr_rounds} rounds)")
    print(f"speed-up: {lr_total / best:.0f}× (target ≥ 50×); rank() best {best:.3f} s (target ≤ 1 s): "
          f"{'met' if best <= 1.0 else 'MISSED'}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
