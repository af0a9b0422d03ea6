"""A board's optional spending cap, checked before anything is sent to a provider.

Spend is the sum of what the board's takes cost: the actual cost where the provider reported
it (app/costs.py: Runway credits, Ark tokens, Replicate time), else the estimate (catalog price
per second × clip length, as stored on each take), leaving out takes that never reached a
provider (failed or cancelled before a remote job existed): those were not billed. A comparison or a re-roll that
would take the board past its cap is refused with the figures.
"""

from __future__ import annotations

from sqlalchemy import and_, func, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import OverBudget
from app.models import Board, Comparison, Take


async def board_spend(s: AsyncSession, board_id: str) -> float:
    never_sent = and_(Take.status.in_(("failed", "cancelled")), Take.remote_id.is_(None))
    total = (await s.execute(
        select(func.coalesce(func.sum(func.coalesce(Take.actual_cost_usd, Take.cost_estimate_usd)), 0.0))
        .join(Comparison, Comparison.id == Take.comparison_id)
        .where(Comparison.board_id == board_id, not_(never_sent)))).scalar_one()
    return round(float(total or 0.0), 4)


async def check_budget(s: AsyncSession, board: Board, costs: list[float | None], what: str = "this comparison",
                       unpriced: list[str] | None = None) -> None:
    """Refuse `what` (costing `costs`, one per take) if it would exceed the board's budget."""
    if board.budget_usd is None:
        return
    if any(c is None for c in costs):
        names = ", ".join(unpriced or []) or "a model"
        raise OverBudget(f"this board has a ${board.budget_usd:,.2f} budget and {names} has no known price, "
                         "so the cost of " + what + " cannot be checked against it")
    # Two comparisons sent at once must not both fit in the last dollar: on PostgreSQL the board
    # row is locked until the caller commits its takes (SQLite ignores FOR UPDATE; its writers
    # are serialised anyway, and the gap between this check and the insert is milliseconds).
    await s.execute(select(Board.id).where(Board.id == board.id).with_for_update())
    spent = await board_spend(s, board.id)
    cost = round(sum(costs), 4)
    left = round(board.budget_usd - spent, 4)
    if cost > left + 1e-9:
        raise OverBudget(f"{what} would cost ${cost:,.2f}, but the board has spent ${spent:,.2f} of its "
                         f"${board.budget_usd:,.2f} budget (${max(left, 0):,.2f} left)")
