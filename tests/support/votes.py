"""Crafted votes written straight into the votes table: boards whose record is known exactly,
in milliseconds (the checks of app.votes.record_ballot are tested elsewhere)."""

from __future__ import annotations

from itertools import cycle

from app import vote_counts
from app.ids import new_id
from app.models import Board, Comparison, Vote, Voter, utcnow


def vote_row(board: Board, c: Comparison, voter_id: str, winner_take, loser_take, *, criterion: str = "overall",
             left_wins: bool = True, outcome: str | None = None, ballot_id: str | None = None) -> Vote:
    """One pairwise vote: `winner_take` beat `loser_take` (or `outcome` "tie"), the winner shown
    left when `left_wins`."""
    a, b = (winner_take, loser_take) if left_wins else (loser_take, winner_take)
    winner = outcome or ("model_a" if left_wins else "model_b")
    return Vote(id=new_id(), ballot_id=ballot_id or new_id(), board_id=board.id, comparison_id=c.id,
                voter_id=voter_id, criterion=criterion, kind="pair", take_a_id=a.id, take_b_id=b.id,
                model_a=a.model_id, model_b=b.model_id, winner=winner, pair_key="|".join(sorted((a.id, b.id))),
                position_a=0, position_b=1, blind=board.blind, created_at=utcnow())


async def crafted_votes(app, board: Board, comparisons: list[Comparison], record, criterion: str = "overall") -> None:
    """(winner model, loser model, count) triples, spread round-robin over the comparisons
    (each must hold a take of both models), one fresh voter per vote, the winner shown left
    and right in turn (no position bias)."""
    rows, voters = [], []
    spots = cycle(comparisons)
    flip = cycle((True, False))
    for winner, loser, n in record:
        for _ in range(n):
            c = next(spots)
            take = {t.model_id: t for t in c.takes}
            v = Voter(id=new_id())
            voters.append(v)
            rows.append(vote_row(board, c, v.id, take[winner], take[loser], criterion=criterion, left_wins=next(flip)))
    async with app.state.db.session() as s:
        s.add_all(voters)
        await s.flush()
        s.add_all(rows)
        await s.flush()
        # rows written directly, not through app.votes.write_votes: recount the board's kept
        # ballot counts (app.vote_counts), as a vote would have moved them
        await vote_counts.rebuild(s, [board.id])
        await s.commit()
