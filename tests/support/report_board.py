"""A board for the report tests: three models over six comparisons with crafted votes (aurora
clearly best, ember and blocks close), one re-rolled and accepted take, and one close call."""

from __future__ import annotations

from sqlalchemy import update

from app.models import Take
from tests.support.factories import make_board, ready_comparison
from tests.support.votes import crafted_votes

MODELS = ("demo/aurora", "demo/ember", "demo/blocks")


async def report_board(app, slug: str = "rep", blind: bool = False):
    board = await make_board(app, "Report board", slug=slug, blind=blind)
    cs = [await ready_comparison(app, board, MODELS, f"shot {i}: a heron lands on a pier", False) for i in range(6)]
    await crafted_votes(app, board, cs[:5], [("demo/aurora", "demo/ember", 30), ("demo/ember", "demo/aurora", 3),
                                             ("demo/aurora", "demo/blocks", 30), ("demo/blocks", "demo/aurora", 3),
                                             ("demo/ember", "demo/blocks", 14), ("demo/blocks", "demo/ember", 12)])
    # the close call: on the last comparison ember and blocks split evenly, aurora unvoted
    await crafted_votes(app, board, cs[5:], [("demo/ember", "demo/blocks", 2), ("demo/blocks", "demo/ember", 2)])
    async with app.state.db.session() as s:   # aurora accepted on its first take everywhere; costs known
        await s.execute(update(Take).where(Take.model_id == "demo/aurora").values(accepted=True, cost_usd=0.5))
        await s.commit()
    return board, cs
