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
6. Poster order. The board page shows a blind comparison's posters only once every take has
   finished (which take is ready first would name the fast model), in the voter's own
   shuffled screen order (`poster_order`, the order the comparison page shows them in), and
   no model names are listed on its cards (`card_names_shown`); the per-comparison win shares
   appear after the voter's vote.
7. Tiles. Before the vote a player tile shows no frame rate or frame counter and the timeline
   no take's end (each differs by model); they appear with the names (templates/partials/
   player.html, static/player.js).
8. Live events. The event streams (app/web/live.py) carry, before the vote, what the takes
   panel shows: how many takes have finished, never which one, its model, timings or estimates
   (`live_detail_shown`).
9. Decisions in words. "Kling v3 is settled on top" tells a reviewer what to look for while
   judging: a voter (not an editor) with comparisons still to vote on reads the models as
   "#1", "#2" … in leaderboard order (`decisions_named`, `decisions_named_for`), and so does
   the report page throughout (its tables and close calls).

Observers. An owner or editor may mark themselves an *observer* of a board
(`Membership.observer`, `may_observe`): they set the board up and mean to watch it, not to
judge blind, so they see names, results and others' comments at once (`revealed`,
`comments_hidden` with `observer=True`), and their votes are stored with `blind` false
(app.votes.record_ballot's `observer`), which keeps them out of a "blind votes only"
leaderboard.

Editors and owners who are not observers are not shielded by this module beyond the comparison
page itself: they started the comparison and know its models.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, allows, roles_by_board
from app.models import Board, Comparison, Membership, Take, Vote
from app.votes import screen_order


def revealed(blind: bool, voted: bool, observer: bool = False) -> bool:
    """Whether the voter sees model names (and timings, costs, messages) on a comparison: an
    observer does at once."""
    return (not blind) or voted or observer


def may_observe(role: str | None) -> bool:
    """Who may mark themselves an observer: owners and editors (who set the board up)."""
    return allows(role, "edit")


async def observing(s: AsyncSession, actor: Actor, board: Board, role: str | None) -> bool:
    """Whether the actor watches `board` as an observer (a flag on their membership, kept only
    while their role allows it)."""
    if not actor.user_id or not may_observe(role):
        return False
    flag = (await s.execute(select(Membership.observer).where(
        Membership.board_id == board.id, Membership.user_id == actor.user_id))).scalar_one_or_none()
    return bool(flag)


def players_shown(blind: bool, voted: bool, all_done: bool) -> bool:
    """Whether playable media may be shown: on a blind board before the vote, only once every
    take has finished."""
    return revealed(blind, voted) or all_done


def comments_hidden(blind: bool, role: str | None, voted: bool, observer: bool = False) -> bool:
    """Whether others' comments are kept back from this viewer (until they vote; an observer
    reads them at once)."""
    return blind and allows(role, "vote") and not voted and not observer


async def csv_hidden_boards(s: AsyncSession, actor: Actor, boards: Sequence[Board]) -> list[str]:
    """Ids of the blind boards on which the actor votes blind (a voter, not an editor): vote
    exports there leave out comparisons the actor has not voted on (app.exports)."""
    roles = await roles_by_board(s, actor, list(boards))
    return [b.id for b in boards if b.blind and allows(roles.get(b.id), "vote") and not allows(roles.get(b.id), "edit")]


def download_stem(take: Take, blind: bool) -> str:
    """The download's file name without extension: no model id on a blind board."""
    return f"take-{take.id}" if blind else f"take-{take.id}-{take.model_id.replace('/', '_')}"


def poster_order(takes: Sequence[Take], blind: bool, voter_id: str | None = None,
                 comparison_id: str = "") -> list[Take]:
    """The board card's posters. On a blind board: none until every take has finished (the
    first poster to appear would be the fastest model's), then in this voter's own screen
    order (app.votes.screen_order, as on the comparison page), not the order picked."""
    if not blind:
        return list(takes)
    if not all(t.terminal for t in takes):
        return []
    return screen_order(list(takes), voter_id, comparison_id, shuffle=True)


def card_names_shown(blind: bool) -> bool:
    """Whether a board card lists the comparison's models."""
    return not blind


def live_detail_shown(blind: bool, voted: bool) -> bool:
    """Whether a live event may carry per-take detail (label, status, elapsed time, time left
    from the model's median — each of which can name a model): only once revealed."""
    return revealed(blind, voted)


def decisions_named(blind: bool, role: str | None, pending: int) -> bool:
    """Whether decisions (and the report) name the models for this viewer (rule 9)."""
    return not blind or not allows(role, "vote") or allows(role, "edit") or pending == 0


async def pending_for(s: AsyncSession, board_id: str, voter_id: str | None) -> int:
    """Comparisons of the board with two or more ready takes that this voter has not voted on."""
    votable = (select(Take.comparison_id).join(Comparison, Comparison.id == Take.comparison_id)
               .where(Comparison.board_id == board_id, Take.status == "ready")
               .group_by(Take.comparison_id).having(func.count() >= 2))
    voted = select(Vote.comparison_id).where(Vote.board_id == board_id, Vote.voter_id == (voter_id or ""),
                                             Vote.superseded_at.is_(None))
    return (await s.execute(select(func.count()).select_from(
        votable.where(Take.comparison_id.not_in(voted)).subquery()))).scalar_one()


async def decisions_named_for(s: AsyncSession, actor: Actor, boards: Sequence[Board], voter_id: str | None) -> bool:
    """decisions_named over several boards (a pooled leaderboard): named only if named on each.
    The pending count is asked only where it matters (a blind board where the actor votes blind)."""
    roles = await roles_by_board(s, actor, list(boards))
    for b in boards:
        role = roles.get(b.id)
        if not decisions_named(b.blind, role, 1) and not decisions_named(b.blind, role, await pending_for(s, b.id, voter_id)):
            return False
    return True
