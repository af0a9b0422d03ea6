"""Tags on comparisons ("character walk", "product close-up"): what a shot list sorts its
prompts by, so the leaderboard can answer per kind of shot.

A tag is stored normalised (trimmed, inner spaces collapsed, lower-cased), so "Character
Walk" and "character  walk" are one tag in a filter and in the per-tag table. Commas and `|`
are refused inside a tag because they separate tags in the paste format (`prompt | a, b`)
and in the CSV cell; control characters are refused as everywhere else.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InputError
from app.models import Comparison, ComparisonTag

MAX_TAG_CHARS = 64      # the column's width
MAX_TAGS = 20           # per comparison: a filter, not a description
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


def normalise_tag(s: str) -> str:
    """The stored form of one tag, or an InputError saying what is wrong with it."""
    if not isinstance(s, str):
        raise InputError("a tag must be text")
    if _CONTROL.search(s):
        raise InputError(f"the tag {s!r} contains a control character; control characters are not allowed")
    tag = _SPACES.sub(" ", s).strip().lower()
    if not tag:
        raise InputError("a tag is empty")
    if len(tag) > MAX_TAG_CHARS:
        raise InputError(f"the tag {tag[:20]!r}… is {len(tag)} characters; the limit is {MAX_TAG_CHARS}")
    if "," in tag or "|" in tag:
        raise InputError(f"the tag {tag!r} contains ',' or '|', which separate tags")
    return tag


def normalise_tags(values: Iterable[str]) -> list[str]:
    """Tags in the order given, normalised, duplicates dropped; every problem in one error."""
    out: list[str] = []
    errors: list[str] = []
    for value in values:
        try:
            tag = normalise_tag(value)
        except InputError as exc:
            errors.append(exc.message)
            continue
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        errors.append(f"{len(out)} tags; the limit is {MAX_TAGS} per comparison")
    if errors:
        raise InputError(errors[0], errors)
    return out


def split_tags(text: str) -> list[str]:
    """`"crowd, Night shot"` → ["crowd", "night shot"] (empty pieces are ignored)."""
    return normalise_tags(p for p in (text or "").split(",") if p.strip())


async def tags_by_comparison(session: AsyncSession, comparison_ids: Sequence[str]) -> dict[str, list[str]]:
    """{comparison id: its tags, sorted}; comparisons without tags are left out."""
    out: dict[str, list[str]] = defaultdict(list)
    ids = list(dict.fromkeys(comparison_ids))
    for start in range(0, len(ids), 5000):   # bounded IN lists
        rows = await session.execute(select(ComparisonTag.comparison_id, ComparisonTag.tag)
                                     .where(ComparisonTag.comparison_id.in_(ids[start:start + 5000])))
        for cid, tag in rows:
            out[cid].append(tag)
    return {cid: sorted(tags) for cid, tags in out.items()}


async def tags_of_board(session: AsyncSession, board_id: str) -> dict[str, list[str]]:
    """{tag: the ids of the board's comparisons that carry it}, tags sorted."""
    rows = await session.execute(
        select(ComparisonTag.tag, ComparisonTag.comparison_id)
        .join(Comparison, Comparison.id == ComparisonTag.comparison_id)
        .where(Comparison.board_id == board_id).order_by(ComparisonTag.tag, ComparisonTag.comparison_id))
    out: dict[str, list[str]] = {}
    for tag, cid in rows:
        out.setdefault(tag, []).append(cid)
    return out


async def tags_by_board_comparison(session: AsyncSession, board_id: str) -> dict[str, list[str]]:
    """{comparison id: its tags} over one board: the shape active sampling, decisions and the
    report take (app/active.py, app/verdicts.py, app/report.py)."""
    out: dict[str, list[str]] = {}
    for tag, ids in (await tags_of_board(session, board_id)).items():
        for cid in ids:
            out.setdefault(cid, []).append(tag)
    return out


async def board_tags(session: AsyncSession, board_ids: Sequence[str]) -> list[str]:
    """Every tag used on these boards, sorted (for the pages' tag selector)."""
    if not board_ids:
        return []
    rows = await session.execute(
        select(ComparisonTag.tag).join(Comparison, Comparison.id == ComparisonTag.comparison_id)
        .where(Comparison.board_id.in_(list(board_ids))).distinct())
    return sorted(rows.scalars())


def tagged(tag: str):
    """A subquery of the ids of comparisons carrying `tag`, for `… .in_(tagged(tag))`."""
    return select(ComparisonTag.comparison_id).where(ComparisonTag.tag == tag)


async def set_tags(session: AsyncSession, comparison: Comparison, values: Iterable[str]) -> list[str]:
    """Replace a comparison's tags with `values` (normalised); committed. Returns them sorted."""
    tags = normalise_tags(values)
    await session.execute(delete(ComparisonTag).where(ComparisonTag.comparison_id == comparison.id))
    if tags:
        await session.execute(insert(ComparisonTag), [{"comparison_id": comparison.id, "tag": t} for t in tags])
    await session.commit()
    return sorted(tags)
