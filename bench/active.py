"""Votes until the top model is settled: active picking (app.sampling) against uniform picking.

    nice -n 10 python bench/active.py [--boards 200] [--models 8] [--prompts 200] [--seed 1]

Each simulated board is a suite: `--prompts` comparisons, each with one take per model. The
models have known strengths θ ~ N(0, 0.7²) nats, votes are Davidson outcomes with ties
(ν = 0.5) and a first-shown advantage (β = 0.15 nats), and the screen order of the shown
pair is random. Both policies go through `app.sampling.pick` on the same boards: "uniform"
with ε = 1, "active" with the default ε = app.sampling.EPSILON (0.10). Every `--every` votes the board is refitted
(`rank`, `--rounds` bootstrap rounds) and `app.decisions.decide` asked whether the top model
is settled; voting stops then, or at `--cap` votes (such boards are counted at the cap).
Refits come every `--every` votes, and every 5 % of the votes so far once that is more (as a
cached fit would be refreshed); between refits the picks fold the votes they asked for into
the fit's covariance (`Beliefs.record`).
"wrong" is the share of settled boards whose settled top model is not the true best.

`--policy uniform|active` runs one policy only and `--save FILE` keeps its per-board results
(JSON), so the two policies can run as two processes on the same boards (same `--seed`) and be
summarised together with `--load FILE FILE` (the boards are drawn the same way either way);
`--recap N` then shows what a lower `--cap N` would have given (a board's votes and looks up
to N do not depend on the cap, except that a run capped at N also looks once at exactly N).

Then the pick's own CPU time on a board of `--big` comparisons (8 takes each out of 20
models, four tags with their own fits), the fit and the candidate arrays built beforehand.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from app import decisions  # noqa: E402
from app.decisions import decide  # noqa: E402
from app.ranking import A_WINS, B_WINS, ELO, TIE, Outcomes, rank  # noqa: E402
from app.sampling import EPSILON, Candidates, beliefs, pick  # noqa: E402

NU, BETA, SPREAD = 0.5, 0.15, 0.7


def suite(models: int, prompts: int) -> Candidates:
    names = [f"m{i}" for i in range(models)]
    return Candidates.from_rows((f"p{c}", [(f"p{c}:{n}", n) for n in names], ()) for c in range(prompts))


def vote(rng, theta, i, j):
    """One Davidson vote between models i and j in a random screen order: (a, b, outcome)."""
    a, b = (i, j) if rng.random() < 0.5 else (j, i)
    h = 0.5 * (theta[a] - theta[b] + BETA)
    pa, pb = np.exp(h), np.exp(-h)
    u = rng.random() * (pa + pb + NU)
    return a, b, A_WINS if u < pa else B_WINS if u < pa + pb else TIE


def run(theta, cands, epsilon, rng, every, cap, rounds):
    """Votes until the top model is settled (or `cap`), and the model settled on."""
    names = list(cands.models)
    index = {n: k for k, n in enumerate(names)}
    rows: list[tuple[int, int, int]] = []
    state = beliefs(cands, None)
    while len(rows) < cap:
        for _ in range(min(max(every, len(rows) // 20), cap - len(rows))):
            p = pick(cands, None, epsilon=epsilon, rng=rng, state=state)
            state.record(cands, p)
            rows.append(vote(rng, theta, index[p.models[0]], index[p.models[1]]))
        a, b, o = (np.array(c) for c in zip(*rows))
        fit = rank(Outcomes.from_arrays(names, np.arange(len(a)), a, b, o), rounds=rounds,
                   seed=int(rng.integers(2**31)))
        state = beliefs(cands, fit)
        top = decide(fit).top
        if top is not None and top.settled:
            return len(rows), top.model
    return cap, None


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre, half = (p + z * z / (2 * n)), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # clamped: at k = 0 the lower bound is 0 up to rounding, and printed "-0.0%" otherwise
    return max(0.0, (centre - half) / (1 + z * z / n)), min(1.0, (centre + half) / (1 + z * z / n))


def speed(rng, n, repeat):
    models = [f"m{i:02d}" for i in range(20)]
    tags = ["walk", "crowd", "physics", "close-up"]
    theta = rng.normal(0, SPREAD, 20)
    rows = [(f"c{c}", [(f"c{c}:{m}", m) for m in rng.choice(models, 8, replace=False)],
             list(rng.choice(tags, rng.integers(0, 3), replace=False))) for c in range(n)]
    t = time.process_time()
    cands = Candidates.from_rows(rows)
    build = time.process_time() - t
    a = rng.integers(0, 20, 100_000)
    b = (a + rng.integers(1, 20, 100_000)) % 20
    o = np.where(rng.random(100_000) < 1 / (1 + np.exp(theta[b] - theta[a])), A_WINS, B_WINS)
    out = Outcomes.from_arrays(models, np.arange(100_000), a, b, o)
    fit = rank(out, rounds=1000)
    tag_fits = {t: rank(Outcomes.from_arrays(models, np.arange(25_000), a[k::4], b[k::4], o[k::4]), rounds=1000)
                for k, t in enumerate(tags)}
    times = {}
    for label, tf in (("overall only", None), ("overall + 4 tags", tag_fits)):
        ts = []
        for _ in range(repeat):
            t = time.process_time()
            pick(cands, fit, tf, epsilon=0.0, rng=rng)
            ts.append(time.process_time() - t)
        times[label] = ts
    return build, times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--boards", type=int, default=200)
    p.add_argument("--models", type=int, default=8)
    p.add_argument("--prompts", type=int, default=200)
    p.add_argument("--every", type=int, default=10, help="votes between refits")
    p.add_argument("--rounds", type=int, default=200, help="bootstrap rounds per refit")
    p.add_argument("--cap", type=int, default=4000)
    p.add_argument("--epsilon", type=float, default=EPSILON)
    p.add_argument("--big", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tau", type=float, help="the anytime test's τ in nats (default app.decisions.ANYTIME_SCALE)")
    p.add_argument("--policy", choices=("both", "uniform", "active"), default="both")
    p.add_argument("--save", type=Path, help="write the per-board results here (JSON)")
    p.add_argument("--load", type=Path, nargs="+", help="summarise saved results instead of simulating")
    p.add_argument("--recap", type=int, help="with --load: count boards past this many votes as unsettled "
                                             "at it (what a run with that --cap would have given)")
    args = p.parse_args()
    if args.tau is not None:
        decisions.ANYTIME_SCALE = args.tau * ELO
    if args.load:
        result = {"uniform": [], "active": []}
        for f in args.load:
            for policy, rows in json.loads(f.read_text()).items():
                result[policy] += [tuple(r) if not args.recap or r[0] <= args.recap else (args.recap, None, r[2])
                                   for r in rows]
        summarise(result, time.perf_counter())
        return
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{args.boards} boards, {args.models} models × {args.prompts} prompts, refit every {args.every} votes "
          f"({args.rounds} rounds), cap {args.cap}, ε = {args.epsilon}, seed {args.seed}, "
          f"τ = {decisions.ANYTIME_SCALE / ELO:.3g} nats")
    rng = np.random.default_rng(args.seed)
    cands = suite(args.models, args.prompts)
    result = {"uniform": [], "active": []}
    t0 = time.perf_counter()
    for _ in range(args.boards):
        theta = rng.normal(0, SPREAD, args.models)
        board_seed = int(rng.integers(2**31))
        for policy, eps in (("uniform", 1.0), ("active", args.epsilon)):
            if args.policy in ("both", policy):
                n, top = run(theta, cands, eps, np.random.default_rng(board_seed), args.every, args.cap, args.rounds)
                result[policy].append((n, top, f"m{int(np.argmax(theta))}"))
    if args.save:
        args.save.write_text(json.dumps({k: v for k, v in result.items() if v}))
    if args.policy == "both":
        summarise(result, t0)
    build, times = speed(rng, args.big, args.repeat)
    print(f"pick() on {args.big:,} comparisons (8 takes, 20 models), CPU time over {args.repeat} calls; "
          f"Candidates.from_rows took {build * 1000:.0f} ms once:")
    for label, ts in times.items():
        print(f"  {label}: median {np.median(ts) * 1000:.1f} ms, max {max(ts) * 1000:.1f} ms (goal ≪ 50 ms)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def summarise(result: dict, t0: float) -> None:
    for policy, res in result.items():
        n = np.array([r[0] for r in res])
        settled = [r for r in res if r[1] is not None]
        wrong = sum(r[1] != r[2] for r in settled)
        lo, hi = wilson(wrong, len(settled))
        print(f"{policy:<8} votes to settle: mean {n.mean():.0f}, median {np.median(n):.0f}; "
              f"not settled by the cap: {len(res) - len(settled)}/{len(res)}; "
              f"wrong top model: {wrong}/{len(settled)} = {wrong / max(len(settled), 1):.1%} "
              f"[95% CI {lo:.1%}, {hi:.1%}]")
    act, uni = (np.array([r[0] for r in result[k]]) for k in ("active", "uniform"))
    both = np.array([a[1] is not None and u[1] is not None for a, u in zip(result["active"], result["uniform"])])
    print(f"active / uniform: mean votes {act.mean() / uni.mean():.2f}×, median per-board ratio "
          f"{np.median(act / uni):.2f}× (goal ≤ 0.5×); on the {both.sum()} boards both settled: mean votes "
          f"{act[both].mean() / uni[both].mean():.2f}×, median ratio {np.median(act[both] / uni[both]):.2f}×; "
          f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
