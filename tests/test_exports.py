"""Exports: the same bytes from SQLite (Python csv path) and PostgreSQL (server-side COPY),
with awkward text, ties in time, superseded votes and missing positions."""

import asyncio
import csv
import io
import shutil
from datetime import datetime, timezone

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app import exports
from app.exports import VOTE_COLUMNS, tstamp, vote_csv
from app.models import Board, Comparison, ComparisonTag, Suite, Take, Vote, Voter

PROMPTS = {
    "c1": "plain prompt",
    "c2": 'comma, "quotes"\nand a newline',
    "c3": "a lone\rcarriage return",
    "c4": "windows\r\nline end",
    "c5": "ünïcödé 🎬 \\.",
    "c6": " leading and trailing space ",
}


def _ts(us: int) -> datetime:
    return datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc).replace(microsecond=us)


def _dataset():
    voters = [Voter(id="voter1"), Voter(id="voter2", display_name='Ann, "the reviewer"'), Voter(id="voter3", display_name="")]
    boards = [Board(id="b1", slug="alpha", name="Alpha", criteria=["overall"]),
              Board(id="b2", slug="beta", name="Beta", criteria=["overall", "motion"])]
    comparisons, takes, votes = [], [], []
    suites = [Suite(id="s1", board_id="b1", name="=Spring, shot list", models=[], prompts=2)]
    tags = [ComparisonTag(comparison_id="c1", tag=t) for t in ("dusk", "=sum", "crowd")]
    tags += [ComparisonTag(comparison_id="c3", tag="walk")]
    for i, (cid, prompt) in enumerate(PROMPTS.items()):
        comparisons.append(Comparison(id=cid, board_id="b1" if i % 2 == 0 else "b2", prompt=prompt, params={},
                                      created_at=_ts(0), suite_id="s1" if cid in ("c1", "c3") else None,
                                      seed={"c1": 3, "c3": 0}.get(cid)))
        for j, model in enumerate(("demo/aurora", "demo/ember", "demo/blocks")):
            takes.append(Take(id=f"{cid}t{j}", comparison_id=cid, model_id=model, provider="demo", status="ready"))
    n = 0
    for i, cid in enumerate(PROMPTS):
        board = "b1" if i % 2 == 0 else "b2"
        for k, (a, b, winner, kind) in enumerate([(0, 1, "model_a", "pair"), (1, 2, "tie (bothbad)", "pair"),
                                                  (0, 2, "model_b", "ranking"), (2, 1, "tie", "best")]):
            n += 1
            votes.append(Vote(
                id=f"v{n:03d}", ballot_id=f"ballot{i}{k // 2}", board_id=board, comparison_id=cid,
                voter_id=f"voter{(n % 3) + 1}", criterion="motion" if k == 3 and board == "b2" else "overall",
                kind=kind, take_a_id=f"{cid}t{a}", take_b_id=f"{cid}t{b}", model_a=takes[3 * i + a].model_id,
                model_b=takes[3 * i + b].model_id, winner=winner, pair_key=f"{cid}{k}",
                position_a=None if k == 1 else a, position_b=None if k == 1 else b, blind=k % 2 == 0,
                # equal times (ties broken by id), .999 µs truncation, and the epoch's millisecond edge
                created_at=_ts([0, 0, 123999, 500][k] + i), superseded_at=None,
                # how the pair was shown (app/picks.py): probabilities that need rounding alike on both paths
                sampled_by=["active", "uniform", "manual", None][k],
                sample_probability=[1 / 3, 1 / 96 + i / 7, None, None][k]))
    votes.append(Vote(id="v999", ballot_id="old", board_id="b1", comparison_id="c1", voter_id="voter1",
                      criterion="overall", kind="pair", take_a_id="c1t0", take_b_id="c1t1", model_a="demo/aurora",
                      model_b="demo/ember", winner="model_b", pair_key="x", blind=True, created_at=_ts(1),
                      superseded_at=_ts(2)))
    return [voters + boards, suites, comparisons, takes + tags, votes]  # in foreign-key order


async def _export(url: str, board_ids, force_generic=False, monkeypatch=None) -> bytes:
    engine = create_async_engine(url)
    try:
        maker = async_sessionmaker(engine, expire_on_commit=False)
        async with maker() as s:
            for group in _dataset():
                s.add_all(group)
                await s.flush()
            await s.commit()
        async with maker() as s:
            if force_generic:
                async def sqlite(_session):
                    return "sqlite"
                monkeypatch.setattr(exports, "_dialect", sqlite)
            return b"".join([chunk async for chunk in vote_csv(s, board_ids)])
    finally:
        await engine.dispose()


def _pg_empty(pg_url: str):
    from tests.support.db import pg_empty

    pg_empty(pg_url)


def test_sqlite_and_postgresql_exports_are_byte_identical(tmp_path, sqlite_template, pg_database, monkeypatch):
    path = tmp_path / "x.db"
    shutil.copyfile(sqlite_template, path)
    lite = asyncio.run(_export(f"sqlite+aiosqlite:///{path}", ["b1", "b2"]))
    _pg_empty(pg_database)
    pg = asyncio.run(_export(pg_database, ["b1", "b2"]))
    _pg_empty(pg_database)
    pg_generic = asyncio.run(_export(pg_database, ["b1", "b2"], force_generic=True, monkeypatch=monkeypatch))
    assert pg == lite
    assert pg_generic == pg

    text = pg.decode("utf-8")
    assert text.startswith("\ufeff" + ",".join(VOTE_COLUMNS) + "\n")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    assert len(rows) == 24, "the superseded vote is not exported"
    assert [r["vote_id"] for r in rows][:3] == ["v001", "v002", "v005"], "time order, ties by id"
    by_id = {r["vote_id"]: r for r in rows}
    for i, (cid, prompt) in enumerate(PROMPTS.items()):
        assert by_id[f"v{4 * i + 1:03d}"]["prompt"] == prompt, "text survives a round trip"
    assert by_id["v002"]["position_a"] == "" and by_id["v001"]["position_b"] == "1"
    assert by_id["v003"]["tstamp"] == "1795608000.123", "truncated to the millisecond"
    assert by_id["v004"]["tstamp"] == "1795608000.000"
    assert by_id["v003"]["ranking_id"] == "ballot01" and by_id["v001"]["ranking_id"] == ""
    judges = {r["judge"] for r in rows}
    assert judges == {"voter1", 'Ann, "the reviewer"', "voter3"}, "an empty display name falls back to the id"
    assert {r["blind"] for r in rows} == {"true", "false"}
    assert by_id["v008"]["criterion"] == "motion"
    # the suite, its tags (sorted) and seed; formula cells neutralised as everywhere
    assert (by_id["v001"]["suite"], by_id["v001"]["tags"], by_id["v001"]["seed"]) == (
        "'=Spring, shot list", "'=sum, crowd, dusk", "3")
    assert (by_id["v009"]["suite"], by_id["v009"]["tags"], by_id["v009"]["seed"]) == ("'=Spring, shot list", "walk", "0")
    assert (by_id["v005"]["suite"], by_id["v005"]["tags"], by_id["v005"]["seed"]) == ("", "", "")
    assert (by_id["v001"]["sampled_by"], by_id["v001"]["sample_probability"]) == ("active", "0.333333")
    assert by_id["v006"]["sample_probability"] == f"{1 / 96 + 1 / 7:.6f}" and by_id["v004"]["sampled_by"] == ""
    # a lone CR is quoted, as PostgreSQL does (the csv module alone would not)
    assert '"a lone\rcarriage return"' in text


def test_tstamp_is_exact():
    assert tstamp(datetime(1970, 1, 1, 0, 0, 1, 999999, tzinfo=timezone.utc)) == "1.999"
    assert tstamp(datetime(2026, 11, 25, 12, 0, 0, 50000, tzinfo=timezone.utc)) == "1795608000.050"


@pytest.mark.parametrize("boards,count", [(["b1"], 12), (["b2"], 12), ([], 0)])
def test_export_by_board(tmp_path, sqlite_template, boards, count):
    path = tmp_path / "x.db"
    shutil.copyfile(sqlite_template, path)
    text = asyncio.run(_export(f"sqlite+aiosqlite:///{path}", boards)).decode()
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    assert len(rows) == count
    assert {r["board"] for r in rows} <= {"alpha" if boards == ["b1"] else "beta"}


async def test_votes_csv_over_http_for_one_board_and_for_all(client, app):
    from tests.support.factories import ready_json

    for slug in ("one", "two"):
        assert (await client.post("/api/boards", json={"name": slug, "slug": slug})).status_code == 201
        c = await ready_json(client, app, slug, models=["demo/aurora", "demo/blocks"], prompt=f"prompt, {slug}")
        a, b = (t["id"] for t in c["takes"])
        assert (await client.post(f"/api/comparisons/{c['id']}/votes",
                                  json={"take_a": a, "take_b": b, "outcome": "bothbad"})).status_code == 201
    one = await client.get("/api/boards/one/votes.csv")
    everything = await client.get("/api/votes.csv")
    for r, n in ((one, 1), (everything, 2)):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))
        assert list(rows[0]) == VOTE_COLUMNS and len(rows) == n
        assert {x["winner"] for x in rows} == {"tie (bothbad)"}
    assert {x["board"] for x in csv.DictReader(io.StringIO(everything.content.decode("utf-8-sig")))} == {"one", "two"}


def test_pg_copy_stops_when_the_client_goes_away(pg_database):
    """A download cut short cancels the COPY and does not put its connection back in the pool."""
    from sqlalchemy import text

    from app.exports import pg_copy

    async def run():
        engine = create_async_engine(pg_database, pool_size=1, max_overflow=0)
        maker = async_sessionmaker(engine)
        try:
            async with maker() as s:
                gen = pg_copy(s, "SELECT g, repeat('x', 200) FROM generate_series(1, 5000000) g /* cut-short */",
                              chunk_bytes=10_000)
                first = await gen.__anext__()
                assert first.startswith(b"1,xxx")
                await gen.aclose()
            async with maker() as s:
                assert (await s.execute(text("SELECT 1"))).scalar() == 1
                for _ in range(50):
                    running = (await s.execute(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%cut-short%' "
                        "AND state = 'active' AND pid <> pg_backend_pid()"))).scalar()
                    if not running:
                        break
                    # pg_stat_activity is a snapshot taken once per transaction: without ending
                    # it, every later read repeats the first one (this test's earlier flake).
                    await s.commit()
                    await asyncio.sleep(0.1)
                assert running == 0
        finally:
            await engine.dispose()

    asyncio.run(run())


async def _cut_off_after_one_chunk(response, spec: str) -> list[dict]:
    """Serve `response` to a client that goes away after the first chunk, the way ASGI `spec`
    tells the app: 2.4 by a send that fails, 2.3 by an http.disconnect while a send hangs.
    Returns what was sent."""
    from starlette.requests import ClientDisconnect

    sent, gone = [], asyncio.Event()

    async def receive():
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if len(sent) == 2:   # the start, one chunk, then the client is gone
            gone.set()
            if spec == "2.4":
                raise OSError("connection reset by peer")
            await asyncio.sleep(3600)   # a send that never completes: only the disconnect ends it

    try:
        await asyncio.wait_for(response({"type": "http", "asgi": {"spec_version": spec}}, receive, send), 10)
    except ClientDisconnect:   # what Starlette makes of the failing send
        assert spec == "2.4"
    return sent


@pytest.mark.parametrize("spec", ["2.3", "2.4"])   # told by http.disconnect / by a failing send
async def test_a_download_cut_off_midway_gives_its_connection_back_at_once(app, spec):
    """A client that goes away in the middle of a CSV (a closed tab, a dropped link): Starlette
    stops sending but leaves the body suspended at its `yield`, with its session and the pooled
    connection that session holds (in a transaction; on PostgreSQL mid-COPY) checked out until
    the garbage collector finds it. The response must close its body as it ends."""
    import gc

    from sqlalchemy import text

    from app.web.exports import csv_response
    from app.web.services import Services

    svc = Services(**{f: getattr(app.state, f) for f in Services.__dataclass_fields__})
    sessions, closed = [], []

    async def rows(s):
        sessions.append(s)
        try:
            for i in range(50):
                yield f"{(await s.execute(text('SELECT 1'))).scalar()},{i}\n".encode()
        finally:
            closed.append(True)

    gc.disable()   # what is checked is the response's own doing, not a collection's
    try:
        sent = await _cut_off_after_one_chunk(csv_response(svc, rows, "votes.csv"), spec)
        assert len(sent) == 2
        assert closed == [True], "the body was left suspended"
        assert not sessions[0].in_transaction(), "its session still holds a connection in a transaction"
    finally:
        gc.enable()


@pytest.mark.parametrize("spec", ["2.3", "2.4"])
async def test_a_plain_generator_body_cut_off_midway_is_closed(spec):
    """The ZIP download's body is a plain generator (app/markers.py zip_stream, its clips open
    as it reads them), which Starlette runs in threads: closing the response closes the plain
    generator too, not only Starlette's wrapper around it."""
    from app.web.stream import ClosingStreamingResponse

    closed = []

    def chunks():
        try:
            for i in range(50):
                yield b"x" * 1024
        finally:
            closed.append(True)

    sent = await _cut_off_after_one_chunk(ClosingStreamingResponse(chunks(), media_type="application/zip"), spec)
    assert len(sent) == 2 and closed == [True]
