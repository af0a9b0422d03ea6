"""Suites: a named run of many prompts × models (× seeds) into a board — a studio's shot list.

One comparison per prompt × seed, each holding one take per model. Creating one is the
comparison path (app/comparisons.py) at scale, in the same two phases:

1. `plan_suite` checks everything first — the models once, then every prompt with the very
   checks a single comparison gets (`comparisons.validate`) — and collects every problem with
   its line ("line 7: the prompt is empty"). One bad line refuses the whole suite; nothing has
   been written. The page's preview is this plan (rows, takes, cost against the budget).
2. `create_suite` writes the suite, its comparisons, takes and tags in ONE transaction, by
   multi-row INSERTs (thousands of rows; bench/suites.py measures it), after the board's
   budget check. The caller enqueues the takes after the commit, in batches; the takes table
   is the outbox, so a lost enqueue is delivered by the runners' sweep.

Running it (pause, resume, cancel, retry, progress) is in app/suite_runs.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.budget import board_spend, check_budget
from app.catalog import Catalog, ModelSpec
from app.comparisons import MAX_SEED, CheckedImage, ComparisonInput, validate
from app.comparisons import _check_models as check_models
from app.errors import InputError
from app.ids import new_ids
from app.models import Board, Comparison, ComparisonParams, ComparisonTag, Suite, Take, utcnow
from app.providers import Providers
from app.settings import Settings
from app.storage import LocalStorage
from app.suite_input import MAX_SUITE_PROMPTS, PromptRow

MAX_SEEDS = 5
MAX_SUITE_TAKES = 10_000     # prompts × seeds × models; a bigger run is two suites
MAX_NAME_CHARS = 200
DEFAULT_SEED = 1             # seeds of a prompt without its own: 1, 2, … (reproducible runs)
PAUSED = "paused"            # a queued take's lease owner while its suite is paused


@dataclass
class SuiteInput:
    name: str
    models: list[str]
    prompts: list[PromptRow]
    seeds: int = 1
    duration_s: float | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    audio: bool = False
    board: str | None = None


@dataclass
class PlannedRow:
    where: str
    prompt: str
    tags: list[str]
    seeds: list[int]
    params: dict                    # ComparisonParams.to_json() without the seed
    image: CheckedImage | None
    costs: list[float | None]       # one per model


@dataclass
class SuitePlan:
    name: str
    specs: list[ModelSpec]
    rows: list[PlannedRow]
    seeds: int
    params: dict = field(default_factory=dict)

    @property
    def comparisons(self) -> int:
        return sum(len(r.seeds) for r in self.rows)

    @property
    def takes(self) -> int:
        return self.comparisons * len(self.specs)

    @property
    def cost(self) -> float | None:
        """The estimated cost of every take, or None if a model has no known price."""
        costs = [c for r in self.rows for c in r.costs * len(r.seeds)]
        return None if any(c is None for c in costs) else round(sum(costs), 4)

    @property
    def tags(self) -> list[str]:
        return sorted({t for r in self.rows for t in r.tags})


def _check_suite(data: SuiteInput) -> list[str]:
    errors = []
    name = (data.name or "").strip()
    if not name:
        errors.append("the suite needs a name")
    elif len(name) > MAX_NAME_CHARS:
        errors.append(f"the suite's name is {len(name)} characters; the limit is {MAX_NAME_CHARS}")
    if not isinstance(data.seeds, int) or not 1 <= data.seeds <= MAX_SEEDS:
        errors.append(f"seeds must be a whole number from 1 to {MAX_SEEDS}")
    if not data.prompts:
        errors.append("the suite has no prompts")
    elif len(data.prompts) > MAX_SUITE_PROMPTS:
        errors.append(f"the suite has {len(data.prompts)} prompts; the limit is {MAX_SUITE_PROMPTS}")
    return errors


def _row_input(data: SuiteInput, row: PromptRow, seed: int) -> ComparisonInput:
    return ComparisonInput(
        prompt=row.prompt, models=list(data.models),
        duration_s=row.duration_s if row.duration_s is not None else data.duration_s,
        aspect_ratio=row.aspect_ratio or data.aspect_ratio, resolution=row.resolution or data.resolution,
        seed=seed, negative_prompt=row.negative_prompt, image=row.image,
        audio=data.audio if row.audio is None else row.audio, rewrite_prompt=bool(row.rewrite_prompt))


def _plan_row(data: SuiteInput, row: PromptRow, catalog: Catalog, providers: Providers,
              settings: Settings) -> PlannedRow:
    """One prompt, checked as a comparison of its own would be (InputError names the line)."""
    first = row.seed if row.seed is not None else DEFAULT_SEED
    seeds = [first + k for k in range(data.seeds)]
    try:
        if row.seed is not None and not (0 <= row.seed and seeds[-1] <= MAX_SEED):
            raise InputError(f"the seed must be a whole number from 0 to {MAX_SEED - data.seeds + 1}")
        specs, stored, image, _ = validate(_row_input(data, row, first), catalog, providers, settings)
    except InputError as exc:
        raise InputError(f"{row.where}: {exc.message}", [f"{row.where}: {e}" for e in exc.errors]) from None
    params = ComparisonParams.from_json(stored)
    costs = [s.price_for(params.duration_for(s.id), params.audio, params.resolution or None) for s in specs]
    stored.pop("seed", None)
    return PlannedRow(row.where, row.prompt.strip(), list(row.tags), seeds, stored, image, costs)


def plan_suite(data: SuiteInput, catalog: Catalog, providers: Providers, settings: Settings) -> SuitePlan:
    """Everything checked, nothing written: the plan, or an InputError listing every problem
    (the suite's own first, then each line's, in order)."""
    errors = _check_suite(data)
    # the models once, rather than the same message on every line
    check_models(ComparisonInput(prompt="", models=list(data.models or [])), catalog, providers, errors)
    if errors:
        raise InputError(errors[0], errors)
    rows: list[PlannedRow] = []
    for row in data.prompts:
        if row.problems:          # found while reading the line: those are its problems
            errors += row.problems
            continue
        try:
            rows.append(_plan_row(data, row, catalog, providers, settings))
        except InputError as exc:
            errors += exc.errors
    takes = len(data.prompts) * data.seeds * len(data.models)
    if takes > MAX_SUITE_TAKES:
        errors.append(f"the suite would make {takes} takes; the limit is {MAX_SUITE_TAKES} (split it in two)")
    if errors:
        raise InputError(errors[0], errors)
    specs = [catalog.get(m) for m in dict.fromkeys(data.models)]
    params = {"duration_s": data.duration_s, "aspect_ratio": data.aspect_ratio, "resolution": data.resolution,
              "audio": data.audio, "tags": sorted({t for r in rows for t in r.tags})}
    return SuitePlan(data.name.strip(), specs, rows, data.seeds, {k: v for k, v in params.items() if v is not None})


@dataclass
class BudgetView:
    budget: float | None
    spent: float
    left: float | None
    fits: bool | None          # None: no budget, or the cost is not known


async def budget_view(s: AsyncSession, board: Board, cost: float | None) -> BudgetView:
    """The plan's cost against the board's budget, for the preview."""
    spent = await board_spend(s, board.id)
    if board.budget_usd is None:
        return BudgetView(None, spent, None, None)
    left = round(board.budget_usd - spent, 4)
    return BudgetView(board.budget_usd, spent, left, None if cost is None else cost <= left + 1e-9)


@dataclass
class Created:
    suite: Suite
    comparison_ids: list[str]
    take_ids: list[str]


def _rows(plan: SuitePlan, suite: Suite, board: Board, voter_id: str | None):
    """The comparison, take and tag rows of a plan, every column given (ids made here, so
    takes can name them; no per-row default to compute, which at thousands of rows shows)."""
    now = utcnow()
    ids = iter(new_ids(plan.comparisons * (1 + len(plan.specs))))
    comparisons, takes, tags, images = [], [], [], []
    take = {"attempt": 1, "status": "queued", "remote_meta": {}, "media_info": {}, "delivery_notes": [],
            "accepted": False, "step_seq": 0, "job_state": {}, "created_at": now, "updated_at": now}
    for row in plan.rows:
        for seed in row.seeds:
            cid = next(ids)
            comparisons.append({"id": cid, "board_id": board.id, "prompt": row.prompt, "params": {**row.params, "seed": seed},
                                "source_image": None, "created_by": voter_id, "created_at": now,
                                "suite_id": suite.id, "seed": seed})
            takes += [{**take, "id": next(ids), "comparison_id": cid, "model_id": spec.id, "provider": spec.provider,
                       "cost_estimate_usd": cost} for spec, cost in zip(plan.specs, row.costs)]
            tags += [{"comparison_id": cid, "tag": t} for t in row.tags]
            if row.image is not None:
                images.append((comparisons[-1], row.image))
    return comparisons, takes, tags, images


async def create_suite(s: AsyncSession, plan: SuitePlan, *, board: Board, voter_id: str | None,
                       storage: LocalStorage) -> Created:
    """Write the plan in one transaction (budget checked first); committed on return."""
    if board.archived_at is not None:
        raise InputError(f"board {board.name!r} is archived")
    costs = [c for r in plan.rows for c in r.costs * len(r.seeds)]
    unpriced = sorted({sp.name for r in plan.rows for sp, c in zip(plan.specs, r.costs) if c is None})
    await check_budget(s, board, costs, f"this suite ({plan.takes} takes)", unpriced=unpriced)
    suite = Suite(board_id=board.id, name=plan.name, created_by=voter_id, seeds=plan.seeds,
                  models=[sp.id for sp in plan.specs], prompts=len(plan.rows), params=plan.params)
    s.add(suite)
    await s.flush()
    comparisons, takes, tags, images = _rows(plan, suite, board, voter_id)
    written = []
    try:
        for c, image in images:
            c["source_image"] = f"comparisons/{c['id']}/source.{image.ext}"
            await storage.put_bytes(c["source_image"], image.data)
            written.append(c["source_image"])
        # Core INSERTs of the tables (executemany), not the ORM's unit of work: nothing is
        # loaded back, and thousands of rows go in a few round trips.
        await s.execute(insert(Comparison.__table__), comparisons)
        await s.execute(insert(Take.__table__), takes)
        if tags:
            await s.execute(insert(ComparisonTag.__table__), tags)
        await s.commit()
    except Exception:
        for key in written:
            await storage.delete(key)
        raise
    return Created(suite, [c["id"] for c in comparisons], [t["id"] for t in takes])


async def suites_of_board(s: AsyncSession, board_id: str, limit: int = 20) -> list[Suite]:
    """The board's suites, newest first (the board page lists them)."""
    return list((await s.execute(select(Suite).where(Suite.board_id == board_id)
                                 .order_by(Suite.created_at.desc(), Suite.id).limit(limit))).scalars())
