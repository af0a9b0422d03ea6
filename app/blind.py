"""What a blind board hides, and from whom: the one set of rules every page, API route, CSV
and download asks (docs/voting.md says the same for reviewers).

A blind board (`Board.blind`) keeps anything that would tell a voter which model made a take
away from them until they have voted on that comparison:

1. Model names. Takes are shown as A, B, C … in a per-voter shuffled order (seeded by the
   voter id, so a reload keeps it: app.votes.screen_order); names, timings, costs and provider
   messages appear only after the voter's vote on the comparison (`revealed`).
2. Players. Until revealed, no take is playable before every take has finished: generation
   speed would give the models away (`players_shown`); the API shows only "generating" or
   "finished" per take until then.
3. Others' comments. A reviewer who may vote sees others' comments only after voting: "B's
   hands melt" biases as much as a name (`comments_hidden`). Whoever cannot vote (a viewer)
   has no vote to bias and sees them at once.
4. CSV rows. Vote exports leave out comparisons the requester has not voted on, on blind boards
   where they vote blind: a voter, not an editor or owner (`csv_hidden_boards`; a viewer has no
   vote to bias, as with comments).
5. Download names. The original's file name carries no model id (`download_stem`).
6. Poster order. The board page's posters are in take-id order (random), not the order the
   models were picked in (`poster_order`), and no model names are listed on its cards
   (`card_names_shown`); the per-comparison win shares appear after the voter's vote.

Editors and owners are not shielded by this module beyond the comparison page itself: they
started the comparison and know its models.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, allows, roles_by_board
from app.models import Board, Take


def revealed(blind: bool, voted: bool) -> bool:
    """Whether the voter sees model names (and timings, costs, messages) on a comparison."""
    return (not blind) or voted


def players_shown(blind: bool, voted: bool, all_done: bool) -> bool:
    """Whether playable media may be shown: on a blind board before the vote, only once every
    take has finished."""
    return revealed(blind, voted) or all_done


def comments_hidden(blind: bool, role: str | None, voted: bool) -> bool:
    """Whether others' comments are kept back from this viewer (until they vote)."""
    return blind and allows(role, "vote") and not voted


async def csv_hidden_boards(s: AsyncSession, actor: Actor, boards: Sequence[Board]) -> list[str]:
    """Ids of the blind boards on which the actor votes blind (a voter, not an editor): vote
    exports there leave out comparisons the actor has not voted on (app.exports)."""
    roles = await roles_by_board(s, actor, list(boards))
    return [b.id for b in boards if b.blind and allows(roles.get(b.id), "vote") and not allows(roles.get(b.id), "edit")]


def download_stem(take: Take, blind: bool) -> str:
    """The download's file name without extension: no model id on a blind board."""
    return f"take-{take.id}" if blind else f"take-{take.id}-{take.model_id.replace('/', '_')}"


def poster_order(takes: Sequence[Take], blind: bool) -> list[Take]:
    """The board card's posters: on a blind board in take-id order, not the order picked."""
    return sorted(takes, key=lambda t: t.id) if blind else list(takes)


def card_names_shown(blind: bool) -> bool:
    """Whether a board card lists the comparison's models."""
    return not blind
