"""CSV exports, streamed so memory stays flat however many rows there are.

The vote CSV follows the column layout of public arena vote datasets (model_a, model_b,
winner, judge, tstamp …, winner ∈ model_a | model_b | tie | tie (bothbad)) followed by our
own columns. One row per pairwise outcome: a ranking of N takes appears as its N(N-1)/2 pairs
and a best-of-N pick as its N-1 pairs, each ballot's rows sharing a ranking_id (empty for a
pair vote, which is its own ballot).

Blind boards: the rows pair take ids with model names, and take ids are in every player's
markup, so a reviewer who could download the votes of a comparison before voting on it could
tell which take is which model. `hidden_for` keeps those rows out: for the listed boards only
comparisons the requesting voter has voted on are exported (editors, owners and viewers, who
cast no vote, see all: app.blind.csv_hidden_boards).

tstamp is Unix seconds with milliseconds (truncated, not rounded, so both databases agree to
the byte).

On PostgreSQL the rows are written by the server itself (`COPY (SELECT …) TO STDOUT WITH CSV`,
streamed through asyncpg): building a million rows in Python was several times slower than
the database writing them. Elsewhere (SQLite) rows come from a server-side cursor and the csv
module. Both paths produce the same bytes for the same data (tests/test_exports.py holds them
to it), so the Python side follows PostgreSQL's CSV rules: `\\n` line ends, a field quoted
only when it holds a comma, a double quote, CR or LF, NULL and empty text both written as an
empty field.

Formulas: a cell that begins with `=`, `+`, `-`, `@`, a tab or a CR is run as a formula by
spreadsheets (CSV injection), and prompts and judges' names are typed by anyone who may vote.
Such a text cell gets a leading `'` (OWASP's advice; a spreadsheet shows the rest as text), on
both paths; `CSV_RAW=true` exports cells exactly as stored (docs/teams.md).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sqlalchemy.orm import aliased

from app.models import Board, Comparison, ComparisonTag, Suite, Take, Vote, Voter

BOM = "\ufeff"  # spreadsheets then read UTF-8 prompts correctly
VOTE_COLUMNS = [
    "vote_id", "board", "comparison_id", "prompt", "criterion", "model_a", "model_b", "winner", "judge",
    "tstamp", "position_a", "position_b", "blind", "vote_kind", "take_a", "take_b", "ranking_id",
    # Each take delivered as asked (app/delivery.py): true | false | empty when never checked.
    "take_a_as_asked", "take_b_as_asked",
    # The comparison's suite (its name; empty when made on its own), its tags ("crowd, dusk",
    # sorted) and its seed (app/suites.py).
    "suite", "tags", "seed",
    # How the pair came to be shown (app/picks.py): active | uniform | manual | same_ballot, empty for
    # votes from before picks were recorded; the pick's probability to six decimals.
    "sampled_by", "sample_probability",
]
CHUNK_BYTES = 1 << 16

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """`text`, with a leading `'` if a spreadsheet would take it for a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _pg_safe(expr: str) -> str:
    """safe_cell in SQL, for the COPY path."""
    return (f"CASE WHEN left({expr}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) "
            f"THEN chr(39) || {expr} ELSE {expr} END")


# The same rows as _vote_select below, as PostgreSQL formats them. The cells people type
# (prompt, judge) and the model ids (a local catalog entry names its own) are {placeholders}:
# pg_votes_query fills them in, through _pg_safe unless the export is raw.
_PG_TEMPLATE = """
SELECT v.id, b.slug, v.comparison_id, {prompt}, v.criterion, {model_a},
       {model_b}, v.winner, {judge},
       trunc(extract(epoch FROM v.created_at)::numeric, 3), v.position_a, v.position_b,
       CASE WHEN v.blind THEN 'true' ELSE 'false' END, v.kind, v.take_a_id, v.take_b_id,
       CASE WHEN v.kind IN ('ranking', 'best') THEN v.ballot_id END,
       CASE WHEN ta.as_asked THEN 'true' WHEN NOT ta.as_asked THEN 'false' END,
       CASE WHEN tb.as_asked THEN 'true' WHEN NOT tb.as_asked THEN 'false' END,
       {suite}, {tags}, c.seed,
       v.sampled_by, round(v.sample_probability::numeric, 6)
FROM votes v
JOIN boards b ON b.id = v.board_id
JOIN comparisons c ON c.id = v.comparison_id
JOIN voters vr ON vr.id = v.voter_id
LEFT JOIN takes ta ON ta.id = v.take_a_id
LEFT JOIN takes tb ON tb.id = v.take_b_id
LEFT JOIN suites su ON su.id = c.suite_id
WHERE v.board_id = ANY($1::varchar[]) AND v.superseded_at IS NULL
ORDER BY v.created_at, v.id COLLATE "C"
"""
# The same rows, less those of blind boards ($2) on comparisons the requester ($3) has not voted on.
_PG_TEMPLATE_BLIND = _PG_TEMPLATE.replace("ORDER BY", """  AND (v.board_id <> ALL($2::varchar[]) OR v.comparison_id IN (
       SELECT m.comparison_id FROM votes m WHERE m.voter_id = $3 AND m.superseded_at IS NULL))
ORDER BY""")
_PG_TEXT = {"prompt": "NULLIF(c.prompt, '')", "model_a": "NULLIF(v.model_a, '')", "model_b": "NULLIF(v.model_b, '')",
            "judge": "COALESCE(NULLIF(vr.display_name, ''), v.voter_id)", "suite": "NULLIF(su.name, '')",
            "tags": "(SELECT string_agg(ct.tag, ', ' ORDER BY ct.tag COLLATE \"C\") FROM comparison_tags ct "
                    "WHERE ct.comparison_id = c.id)"}


def pg_votes_query(hidden: bool = False, raw: bool = False) -> str:
    query = _PG_TEMPLATE_BLIND if hidden else _PG_TEMPLATE
    return query.format(**{k: v if raw else _pg_safe(v) for k, v in _PG_TEXT.items()})


_PG_VOTES = pg_votes_query()   # bench/export.py times this one


def _flag(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def tstamp(ts: datetime) -> str:
    """Unix seconds with milliseconds, truncated (exact integer arithmetic, like the SQL)."""
    ms = (ts - _EPOCH) // _US // 1000
    return f"{ms // 1000}.{ms % 1000:03d}"


def _pg_field(value) -> str:
    if value is None or value == "":
        return ""
    s = str(value)
    if any(ch in s for ch in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


class CsvLines:
    """Rows → CSV text, PostgreSQL's dialect (see the module docstring)."""

    def __init__(self):
        self.buf = io.StringIO()
        self.writer = csv.writer(self.buf, lineterminator="\n")

    def rows(self, rows: Iterable[list]) -> str:
        self.buf.seek(0)
        self.buf.truncate()
        self.writer.writerows(rows)
        return self.buf.getvalue()

    @staticmethod
    def row_pg(row: list) -> str:
        # The csv module leaves a lone CR unquoted when the line end is LF; PostgreSQL quotes it.
        return ",".join(_pg_field(v) for v in row) + "\n"


def header(columns: list[str]) -> bytes:
    return (BOM + ",".join(columns) + "\n").encode()


async def _dialect(session: AsyncSession) -> str:
    return (await session.connection()).dialect.name


async def pg_copy(session: AsyncSession, query: str, *args, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    """Stream `COPY (query) TO STDOUT WITH CSV` in chunks of about `chunk_bytes`.

    The COPY runs in a task feeding a small queue, so a slow client slows the database down
    (back-pressure) instead of piling rows up in memory. If the client goes away mid-way the
    COPY is cancelled and its connection discarded rather than returned to the pool."""
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    queue: asyncio.Queue = asyncio.Queue(maxsize=4)
    pending = bytearray()

    async def sink(data) -> None:
        pending.extend(data)
        if len(pending) >= chunk_bytes:
            chunk = bytes(pending)
            pending.clear()
            await queue.put(chunk)

    async def run() -> None:
        try:
            await raw.copy_from_query(query, *args, output=sink, format="csv")
            if pending:
                await queue.put(bytes(pending))
        finally:
            await queue.put(None)

    task = asyncio.create_task(run())
    finished = False
    try:
        while (chunk := await queue.get()) is not None:
            yield chunk
        await task  # re-raise a database error
        finished = True
    finally:
        if not finished:
            # Close the socket first. A graceful close (what invalidate() tries) sends Terminate
            # and waits up to 2 s for a backend that is busy streaming and never reads it; with
            # the socket gone the backend's next write fails and it ends at once.
            raw.terminate()
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
            await conn.invalidate()


def _tag_list(dialect: str):
    """The comparison's tags joined by "," in any order (SQLite's group_concat has no ORDER BY
    before 3.44): `_tags_cell` sorts them, as the COPY path's string_agg … ORDER BY does."""
    agg = func.string_agg if dialect == "postgresql" else func.group_concat
    return (select(agg(ComparisonTag.tag, ",")).where(ComparisonTag.comparison_id == Comparison.id)
            .correlate(Comparison).scalar_subquery())


def _tags_cell(joined: str | None) -> str:
    return ", ".join(sorted(joined.split(","))) if joined else ""


def _vote_select(board_ids: list[str], hidden_boards: list[str], voter_id: str | None, dialect: str = "sqlite"):
    take_a, take_b = aliased(Take), aliased(Take)
    q = (
        select(Vote.id, Board.slug, Vote.comparison_id, Comparison.prompt, Vote.criterion, Vote.model_a,
               Vote.model_b, Vote.winner, Voter.display_name, Vote.voter_id, Vote.created_at, Vote.position_a,
               Vote.position_b, Vote.blind, Vote.kind, Vote.take_a_id, Vote.take_b_id, Vote.ballot_id,
               take_a.as_asked, take_b.as_asked, Suite.name, _tag_list(dialect), Comparison.seed,
               Vote.sampled_by, Vote.sample_probability)
        .join(Board, Board.id == Vote.board_id)
        .join(Comparison, Comparison.id == Vote.comparison_id)
        .join(Voter, Voter.id == Vote.voter_id)
        .outerjoin(take_a, take_a.id == Vote.take_a_id)
        .outerjoin(take_b, take_b.id == Vote.take_b_id)
        .outerjoin(Suite, Suite.id == Comparison.suite_id)
        .where(Vote.board_id.in_(board_ids), Vote.superseded_at.is_(None))
        .order_by(Vote.created_at, Vote.id)
    )
    if hidden_boards:
        mine = select(Vote.comparison_id).where(Vote.voter_id == voter_id, Vote.superseded_at.is_(None))
        q = q.where(Vote.board_id.not_in(hidden_boards) | Vote.comparison_id.in_(mine))
    return q


async def vote_csv(session: AsyncSession, board_ids: list[str], batch: int = 5000, *,
                   hidden_for: tuple[list[str], str | None] = ((), None), raw: bool = False) -> AsyncIterator[bytes]:
    """The votes of these boards (active votes only: a replaced vote stays in the history but
    not in the export), oldest first. `hidden_for` = (blind boards, voter): on those boards,
    only comparisons this voter has voted on (see the module docstring). `raw`: text cells as
    stored, formulas included."""
    yield header(VOTE_COLUMNS)
    if not board_ids:
        return
    hidden_boards, voter_id = list(hidden_for[0]), hidden_for[1]
    if await _dialect(session) == "postgresql":
        args = (list(board_ids), hidden_boards, voter_id or "") if hidden_boards else (list(board_ids),)
        async for chunk in pg_copy(session, pg_votes_query(bool(hidden_boards), raw), *args):
            yield chunk
        return
    lines, cell = CsvLines(), (str if raw else safe_cell)
    dialect = (await session.connection()).dialect.name
    result = await session.stream(_vote_select(list(board_ids), hidden_boards, voter_id or "", dialect)
                                  .execution_options(yield_per=batch))
    async for part in result.partitions(batch):
        text, out = [], []
        for (vid, slug, cid, prompt, criterion, ma, mb, winner, name, voter, ts, pa, pb, blind, kind, ta, tb,
             ballot, asked_a, asked_b, suite, tags, seed, sampled_by, prob) in part:
            row = [vid, slug, cid, cell(prompt or ""), criterion, cell(ma or ""), cell(mb or ""), winner,
                   cell(name or voter), tstamp(ts),
                   "" if pa is None else pa, "" if pb is None else pb, "true" if blind else "false", kind, ta, tb,
                   ballot if kind in ("ranking", "best") else "", _flag(asked_a), _flag(asked_b),
                   cell(suite or ""), cell(_tags_cell(tags)), "" if seed is None else seed,
                   sampled_by or "", "" if prob is None else f"{prob:.6f}"]
            if "\r" in row[3] or "\r" in row[5] or "\r" in row[6] or "\r" in row[8] or "\r" in row[19]:
                if out:
                    text.append(lines.rows(out))
                    out = []
                text.append(CsvLines.row_pg(row))
            else:
                out.append(row)
        if out:
            text.append(lines.rows(out))
        yield "".join(text).encode()
