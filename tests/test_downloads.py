"""A comparison's downloads: the ZIP of every take (streamed, then parsed back with zipfile),
the comments CSV (formula-neutralised), and each take's markers as EDL and as Final Cut Pro /
Premiere XML, parsed back; what a blind board's voter gets before and after the vote."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
import zipfile

import pytest

from app.comments import add_comment
from app.comparisons import load_comparison
from app.markers import Marker, edl, fcp_xml, frames, timecode, zip_stream
from app.models import Take, Voter
from tests.support.factories import CLIP, ready_comparison, vote
from tests.support.team import make_team

EVENT = re.compile(r"^(\d{3})  AX\s+V\s+C\s+(\S+) (\S+) (\S+) (\S+)$")


def parse_edl(text: str) -> list[dict]:
    """Events of a CMX3600 EDL with their clip name and |M: marker note."""
    events = []
    for line in text.splitlines():
        if m := EVENT.match(line):
            events.append({"n": int(m[1]), "src_in": m[2], "src_out": m[3], "rec_in": m[4]})
        elif line.startswith("* FROM CLIP NAME: "):
            events[-1]["clip"] = line.removeprefix("* FROM CLIP NAME: ")
        elif line.startswith(" |C:"):
            events[-1]["note"] = re.search(r"\|M:(.*?) \|D:", line)[1]
    return events


def parse_xml(text: str) -> dict:
    root = ET.fromstring(text.split("\n", 2)[2])
    seq = root.find("sequence")
    item = seq.find("media/video/track/clipitem")
    marks = lambda el: [(m.findtext("name"), m.findtext("comment"), int(m.findtext("in"))) for m in el.findall("marker")]
    return {"version": root.get("version"), "timebase": int(seq.findtext("rate/timebase")),
            "duration": int(seq.findtext("duration")), "clip": item.findtext("file/pathurl"),
            "sequence_markers": marks(seq), "clip_markers": marks(item)}


# ---- the formats, as plain functions ---------------------------------------------------------

def test_timecodes_count_frames_at_the_take_rate():
    assert timecode(frames(2.5, 24), 24) == "00:00:02:12"
    assert timecode(frames(3661.0, 25), 25) == "01:01:01:00"
    assert timecode(frames(1.0, 29.97), 29.97) == "00:00:01:00"      # 30 frames a timecode second
    assert frames(10, 23.976) == 240 and frames(100, 23.976) == 2398   # 239.76 and 2397.6 frames


def test_edl_and_xml_round_trip_markers_with_awkward_text():
    markers = [Marker(0.5, "Ana", "hands <melt> & | warp\nhere"), Marker(2.25, "=Bo", "sky pops")]
    got = parse_edl(edl("A-take-1", "A-take-1.mp4", 24, markers))
    assert [(e["n"], e["src_in"], e["rec_in"], e["clip"]) for e in got] == [
        (1, "00:00:00:12", "00:00:00:12", "A-take-1.mp4"), (2, "00:00:02:06", "00:00:02:06", "A-take-1.mp4")]
    assert got[0]["note"] == "Ana: hands <melt> &   warp here" and got[1]["note"] == "=Bo: sky pops"
    assert got[0]["src_out"] == "00:00:00:13"
    x = parse_xml(fcp_xml("A-take-1", "A-take-1.mp4", 30, 4.0, 640, 360, markers))
    assert x["version"] == "5" and x["timebase"] == 30 and x["duration"] == 120 and x["clip"] == "A-take-1.mp4"
    assert x["sequence_markers"] == x["clip_markers"] == [("Ana", "hands <melt> & | warp\nhere", 15),
                                                          ("=Bo", "sky pops", 68)]


def test_zip_streams_in_pieces_and_parses_back(tmp_path):
    files = []
    for i in range(2):
        p = tmp_path / f"clip{i}.mp4"
        p.write_bytes(bytes([i]) * (3 * 1024 * 1024 + 17))
        files.append((f"take-{i}.mp4", p))
    pieces = list(zip_stream(files, chunk_bytes=1 << 20))
    assert len(pieces) >= 8 and max(map(len, pieces)) <= (1 << 20) + 1024   # never the whole archive at once
    z = zipfile.ZipFile(io.BytesIO(b"".join(pieces)))
    assert z.testzip() is None and z.namelist() == ["take-0.mp4", "take-1.mp4"]
    assert z.read("take-1.mp4") == files[1][1].read_bytes()


# ---- over HTTP -------------------------------------------------------------------------------

async def _comment(app, c, take_id, time_s, body, name="Ana") -> str:
    async with app.state.db.session() as s:
        v = Voter(display_name=name)
        s.add(v)
        await s.flush()
        await add_comment(s, await load_comparison(s, c.id), v.id, take_id, time_s, body)
        return v.id


async def test_zip_of_an_open_board_names_the_models(app, client):
    c = await ready_comparison(app, models=("demo/aurora", "demo/blocks"))
    chunks = []
    async with client.stream("GET", f"/api/comparisons/{c.id}/takes.zip") as r:
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        assert "content-length" not in r.headers and "attachment" in r.headers["content-disposition"]
        async for chunk in r.aiter_raw():
            chunks.append(chunk)
    z = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    names = z.namelist()
    assert sorted(n.split("-", 1)[0] for n in names) == ["A", "B"]
    assert {n.rsplit("-", 1)[1] for n in names} == {"demo_aurora.mp4", "demo_blocks.mp4"}
    assert all(z.read(n) == CLIP.read_bytes() for n in names)


async def test_blind_board_zip_and_markers_before_and_after_the_vote(app):
    team = await make_team(app, blind=True)
    c = await ready_comparison(app, team.board, models=("demo/aurora", "demo/blocks"))
    a, b = c.takes[0].id, c.takes[1].id
    await _comment(app, c, a, 1.5, "=cmd|'/c calc'!A1", name="Other reviewer")
    async with team.client("voter") as voter:
        me = (await voter.get("/api/me")).json()["voter"]
        z = zipfile.ZipFile(io.BytesIO((await voter.get(f"/api/comparisons/{c.id}/takes.zip")).content))
        assert not any("demo" in n for n in z.namelist()) and len(z.namelist()) == 2
        before = await voter.get(f"/api/comparisons/{c.id}/takes/{a}/markers.edl")
        assert before.status_code == 200 and parse_edl(before.text) == []     # others' comments: after the vote
        assert "demo" not in before.text and "demo" not in before.headers["content-disposition"]
        await vote(app, c, me, take_a=a, take_b=b, outcome="a")
        z = zipfile.ZipFile(io.BytesIO((await voter.get(f"/api/comparisons/{c.id}/takes.zip")).content))
        assert {n.rsplit("-", 1)[1] for n in z.namelist()} == {"demo_aurora.mp4", "demo_blocks.mp4"}
        after = parse_edl((await voter.get(f"/api/comparisons/{c.id}/takes/{a}/markers.edl")).text)
        assert [e["note"] for e in after] == ["Other reviewer: =cmd '/c calc'!A1"]
        xml = parse_xml((await voter.get(f"/api/comparisons/{c.id}/takes/{a}/markers.xml")).text)
        fps = c.takes[0].fps
        assert xml["clip_markers"] == [("Other reviewer", "=cmd|'/c calc'!A1", frames(1.5, fps))]
        assert xml["clip"].endswith(c.takes[0].model_id.replace("/", "_") + ".mp4")
        rows = list(csv.reader(io.StringIO((await voter.get(f"/api/comparisons/{c.id}/comments.csv")).text.lstrip("\ufeff"))))
        assert rows[0][:3] == ["comparison_id", "take", "model"]
        assert rows[1][2] == c.takes[0].model_id and rows[1][5] == "Other reviewer"
        assert rows[1][6] == "'=cmd|'/c calc'!A1"                          # formula-neutralised
        assert rows[1][4] == timecode(frames(1.5, fps), fps)
        wrong = await voter.get(f"/api/comparisons/{c.id}/takes/nope/markers.edl")
        assert wrong.status_code == 404 and "no take" in wrong.json()["detail"]


async def test_blind_board_takes_wait_for_every_take(app, no_generation):
    team = await make_team(app, blind=True)
    c = await ready_comparison(app, team.board, models=("demo/aurora", "demo/blocks"))
    async with app.state.db.session() as s:
        t = await s.get(Take, c.takes[1].id)
        t.status = "running"
        await s.commit()
    async with team.client("voter") as voter:
        r = await voter.get(f"/api/comparisons/{c.id}/takes.zip")
        assert r.status_code == 409 and "every take has finished" in r.json()["detail"]
        m = await voter.get(f"/api/comparisons/{c.id}/takes/{c.takes[0].id}/markers.xml")
        assert m.status_code == 409
    async with team.client("outsider") as out:
        assert (await out.get(f"/api/comparisons/{c.id}/takes.zip")).status_code == 404


@pytest.mark.parametrize("raw", [False, True])
async def test_comments_csv_keeps_cells_raw_only_when_asked(app, client, raw):
    app.state.settings.csv_raw = raw
    c = await ready_comparison(app)
    await _comment(app, c, c.takes[0].id, 0.25, "+1 for the light", name="@ana")
    rows = list(csv.reader(io.StringIO((await client.get(f"/api/comparisons/{c.id}/comments.csv")).text.lstrip("\ufeff"))))
    assert rows[1][5:7] == (["@ana", "+1 for the light"] if raw else ["'@ana", "'+1 for the light"])
    assert rows[1][1] == "A" and rows[1][2] == c.takes[0].model_id
