"""Comments on a take at a time code, so a team can say *why* a take lost ("the hand melts at
2.5 s"). Shown beside the player, click to seek; on a blind board they are hidden from a
reviewer until they have voted (someone else's opinion is as biasing as a model's name)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, Forbidden, InputError, NotFound
from app.models import Comment, Comparison, Voter

MAX_CHARS = 2000


@dataclass
class CommentRow:
    comment: Comment
    author: str
    mine: bool


def _time(value) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise InputError("the time code must be a number of seconds") from None
    if not (t >= 0) or t == float("inf"):
        raise InputError("the time code must be 0 s or later")
    return round(t, 3)


async def add_comment(s: AsyncSession, comparison: Comparison, voter_id: str, take_id: str, time_s, body: str
                      ) -> Comment:
    text = (body or "").strip()
    errors = []
    if not text:
        errors.append("the comment is empty")
    elif len(text) > MAX_CHARS:
        errors.append(f"the comment is {len(text)} characters; the limit is {MAX_CHARS}")
    take = next((t for t in comparison.takes if t.id == take_id), None)
    if take is None:
        errors.append(f"take {take_id!r} is not part of this comparison")
    if errors:
        raise InputError(errors[0], errors)
    if take.status != "ready":
        raise Conflict(f"take {take_id} is {take.status}; comments go on ready takes")
    t = _time(time_s)
    if take.duration_s and t > take.duration_s + 0.05:
        raise InputError(f"the time code {t:g} s is past the end of the take ({take.duration_s:.2f} s)")
    c = Comment(board_id=comparison.board_id, comparison_id=comparison.id, take_id=take.id, voter_id=voter_id,
                time_s=t, body=text)
    s.add(c)
    await s.commit()
    return c


async def list_comments(s: AsyncSession, comparison: Comparison, voter_id: str | None) -> list[CommentRow]:
    rows = (await s.execute(
        select(Comment, Voter.display_name).join(Voter, Voter.id == Comment.voter_id)
        .where(Comment.comparison_id == comparison.id).order_by(Comment.time_s, Comment.created_at))).all()
    return [CommentRow(c, name or "Anonymous reviewer", voter_id is not None and c.voter_id == voter_id)
            for c, name in rows]


async def count_comments(s: AsyncSession, comparison_id: str) -> int:
    return (await s.execute(select(func.count()).select_from(Comment)
                            .where(Comment.comparison_id == comparison_id))).scalar_one()


async def delete_comment(s: AsyncSession, comparison: Comparison, comment_id: str, voter_id: str | None,
                         moderator: bool) -> None:
    """Authors delete their own comments, whatever their role is now (a reviewer moved down to
    viewer can still take back what they wrote); a board owner deletes any, on an archived
    board too (moderation is part of managing it). Callers need only view access."""
    c = await s.get(Comment, comment_id)
    if c is None or c.comparison_id != comparison.id:
        raise NotFound(f"no comment {comment_id!r} on this comparison")
    if not moderator and (voter_id is None or c.voter_id != voter_id):
        raise Forbidden("only its author or a board owner can delete a comment")
    if not moderator and comparison.board.archived_at is not None:
        raise Conflict(f"board {comparison.board.name!r} is archived (read-only); an owner can restore it")
    await s.delete(c)
    await s.commit()
