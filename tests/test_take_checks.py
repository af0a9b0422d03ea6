"""Take checks (app/take_checks.py) on clips crafted with PyAV (tests/support/clips.py), whose
black, freeze, cut, flicker and loudness are known, then end to end through the job layer: a
demo model that renders a black screen is flagged for the reviewer on the page, in the API, the
take CSV and the comparison table, and a blind board shows none of it before the vote."""

from __future__ import annotations

import csv
import io

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from app.models import Vote
from app.take_export import take_csv
from app.take_checks import MOSTLY, check_clip, flagged, take_fields
from tests.support.clients import wait_for_takes
from tests.support.clips import moving_pattern, solid, tone, write_clip
from tests.support.factories import make_board
from tests.support.settings import make_settings

W, H, FPS = 320, 180, 24


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Every crafted clip, made once for the module."""
    d = tmp_path_factory.mktemp("clips")
    move, other = moving_pattern(W, H, speed=4, seed=1), moving_pattern(W, H, speed=4, seed=7)
    still = move(0)
    blurred = [cv2.GaussianBlur(move(i), (0, 0), 3) for i in range(96)]
    inverted = lambda i: 255 - other(i)  # noqa: E731 — a different picture from the cut on
    # brightness ±30 in a 4 Hz square wave (3 frames up, 3 down): the wobble people see as flicker
    flick = lambda i: np.clip(move(i).astype(int) + (30 if i % 6 < 3 else -30), 0, 255).astype(np.uint8)  # noqa: E731
    black = solid(0, W, H)
    return {
        "moving": write_clip(d / "moving.mp4", move),
        "fast": write_clip(d / "fast.mp4", moving_pattern(W, H, speed=12, seed=1)),
        "black": write_clip(d / "black.mp4", black),
        "frozen": write_clip(d / "frozen.mp4", lambda i: still),
        "cut": write_clip(d / "cut.mp4", lambda i: move(i) if i < 48 else inverted(i)),
        "black_start": write_clip(d / "black_start.mp4", lambda i: black(i) if i < 24 else move(i)),
        "flicker": write_clip(d / "flicker.mp4", flick),
        "blurred": write_clip(d / "blurred.mp4", lambda i: blurred[i]),
        "no_bframes": write_clip(d / "no_bframes.mp4", move, bframes=False),
        "b_refs": write_clip(d / "b_refs.mp4", move, preset="slower"),
        "silent": write_clip(d / "silent.mp4", move, audio=np.zeros(4 * 48000)),
        "loud": write_clip(d / "loud.mp4", move, audio=tone(4.0, 0.5)),
        "quiet": write_clip(d / "quiet.mp4", move, audio=tone(4.0, 0.05)),
    }


def test_a_moving_clip_has_motion_detail_and_no_flag(clips):
    k = check_clip(clips["moving"], 4.0)
    assert k["black_fraction"] == 0.0 and k["frozen_fraction"] == 0.0
    assert k["black_stretches"] == [] and k["frozen_stretches"] == [] and k["hard_cuts"] == []
    assert k["mean_motion"] > 5.0 and k["sharpness"] > 300
    assert k["audio"] is None and k["flags"] == [] and not flagged(k)
    # reference frames only (x264's B frames skipped), yet sampled more than 8 times a second
    assert 32 <= k["analysed_frames"] < 96
    assert k["cpu_s"] > 0


def test_faster_motion_measures_more(clips):
    assert check_clip(clips["fast"], 4.0)["mean_motion"] > 1.5 * check_clip(clips["moving"], 4.0)["mean_motion"]


def test_a_black_clip_is_mostly_black_and_flagged(clips):
    k = check_clip(clips["black"], 4.0)
    assert k["black_fraction"] == 1.0 and k["black_stretches"] == [[0.0, 4.0]]
    assert k["frozen_fraction"] == 0.0       # black is counted as black, not as frozen too
    assert k["flags"] == ["mostly black (100%)"] and flagged(k)
    assert take_fields(k)["checks_flagged"] is True


def test_a_frozen_clip_is_mostly_frozen_and_flagged(clips):
    k = check_clip(clips["frozen"], 4.0)
    assert k["frozen_fraction"] > 0.9 and k["black_fraction"] == 0.0
    assert len(k["frozen_stretches"]) == 1
    start, end = k["frozen_stretches"][0]
    assert start == 0.0 and end == pytest.approx(4.0, abs=0.05)
    assert k["mean_motion"] < 0.5
    assert k["flags"] == [f"mostly frozen ({k['frozen_fraction']:.0%})"] and flagged(k)


def test_a_hard_cut_is_found_where_it_is(clips):
    k = check_clip(clips["cut"], 4.0)
    assert len(k["hard_cuts"]) == 1 and k["hard_cuts"][0] == pytest.approx(2.0, abs=0.15)
    assert take_fields(k)["hard_cuts"] == 1 and not flagged(k)


def test_a_black_opening_is_a_stretch_but_no_flag(clips):
    k = check_clip(clips["black_start"], 4.0)
    assert len(k["black_stretches"]) == 1
    start, end = k["black_stretches"][0]
    assert start == 0.0 and end == pytest.approx(1.0, abs=0.15)
    assert k["black_fraction"] == pytest.approx(0.25, abs=0.04) and k["black_fraction"] < MOSTLY
    assert not flagged(k) and k["flags"] == []


def test_flicker_stands_out(clips):
    steady, flicker = check_clip(clips["moving"], 4.0)["flicker"], check_clip(clips["flicker"], 4.0)["flicker"]
    assert steady < 1.0 and flicker > 10.0


def test_a_blurred_clip_is_less_sharp(clips):
    assert check_clip(clips["blurred"], 4.0)["sharpness"] < 0.2 * check_clip(clips["moving"], 4.0)["sharpness"]


def test_a_clip_without_b_frames_is_analysed_whole(clips):
    k = check_clip(clips["no_bframes"], 4.0)
    assert k["analysed_frames"] == 96 and k["mean_motion"] > 5.0


def test_p_frames_that_predict_from_b_frames_get_every_reference_frame_decoded(clips):
    """x264 "slower" lets P frames predict from B frames: skipping B frames would break them,
    silently, so the first second is compared with a decode that keeps them, and the figures
    come from every reference frame instead."""
    import av

    from app.take_checks import VERIFY_S, _chosen_pass, _decode, _stands_alone

    assert not _stands_alone(_decode(clips["b_refs"], "BIDIR", 0), _decode(clips["b_refs"], "NONREF", 0))
    assert _stands_alone(_decode(clips["moving"], "BIDIR", 0), _decode(clips["moving"], "NONREF", 0))  # x264 veryfast
    chosen = _chosen_pass(clips["b_refs"], 0)
    assert chosen.b_frames > 0 and len(chosen.times) == len(_decode(clips["b_refs"], "NONREF", 0).times)
    assert len(_chosen_pass(clips["moving"], 0).times) == len(_decode(clips["moving"], "BIDIR", 0).times)
    assert max(_decode(clips["b_refs"], "NONREF", 0, until_s=VERIFY_S).times) <= VERIFY_S
    with av.open(str(clips["b_refs"])) as c:
        i_and_p = sum(1 for f in c.decode(video=0) if f.pict_type != 3)   # 3: AV_PICTURE_TYPE_B
    k, plain = check_clip(clips["b_refs"], 4.0), check_clip(clips["moving"], 4.0)
    assert i_and_p < k["analysed_frames"] < 96
    assert k["mean_motion"] == pytest.approx(plain["mean_motion"], rel=0.15)
    assert k["frozen_fraction"] == 0.0 and k["hard_cuts"] == [] and not flagged(k)


def test_loudness_and_silence(clips):
    silent, loud, quiet = (check_clip(clips[n], 4.0)["audio"] for n in ("silent", "loud", "quiet"))
    assert silent["silent"] is True and silent["silent_fraction"] > 0.95 and silent["loudness_lufs"] is None
    # a 440 Hz sine of amplitude A: −3 dB (RMS) + 20·log10(A), K-weighting ≈ −0.6 dB at 440 Hz
    assert loud["loudness_lufs"] == pytest.approx(-9.6, abs=1.5)
    assert loud["loudness_lufs"] - quiet["loudness_lufs"] == pytest.approx(20.0, abs=1.0)
    # the peak of −6 dBFS samples, after FFmpeg's AAC encoder's overshoot: a few dB above
    assert -6.5 < loud["peak_dbfs"] < 0.0 and loud["peak_dbfs"] > quiet["peak_dbfs"] + 15
    assert loud["silent"] is False and loud["silent_fraction"] < 0.05
    assert check_clip(clips["silent"], 4.0)["flags"] == ["the audio track is silent"]


# ------------------------------------------------- x264's default preset (P frames from B frames)
@pytest.fixture(scope="module")
def medium_clips(tmp_path_factory):
    """2 s clips from x264's default preset ("medium"), as providers deliver them: B frames that
    P frames predict from, so the checks take the pass over every reference frame."""
    d = tmp_path_factory.mktemp("medium")
    move, other = moving_pattern(W, H, speed=4, seed=1), moving_pattern(W, H, speed=4, seed=7)
    black, still = solid(0, W, H), move(12)
    flick = lambda i: np.clip(move(i).astype(int) + (30 if i % 6 < 3 else -30), 0, 255).astype(np.uint8)  # noqa: E731
    clips = {"moving": move, "flicker": flick,
             "cut": lambda i: move(i) if i < 24 else 255 - other(i),
             "freeze": lambda i: move(i) if i < 12 else still,
             "black": lambda i: black(i) if 12 <= i < 30 else move(i)}
    return {name: write_clip(d / f"{name}.mp4", frame, seconds=2.0, preset="medium") for name, frame in clips.items()}


def test_x264_default_clips_are_checked_over_every_reference_frame(medium_clips):
    from app.take_checks import _chosen_pass, _decode

    for name in ("moving", "cut", "freeze", "black"):     # the flicker clip's B frames are not referenced
        path = medium_clips[name]
        chosen, exact, cheap = _chosen_pass(path, 0), _decode(path, "NONREF", 0), _decode(path, "BIDIR", 0)
        assert chosen.b_frames > 0 and chosen.times == exact.times and len(exact.times) > len(cheap.times), name


def test_x264_default_clips_still_show_each_event(medium_clips):
    steady = check_clip(medium_clips["moving"], 2.0)
    assert steady["hard_cuts"] == [] and steady["black_stretches"] == [] and steady["frozen_stretches"] == []
    assert steady["flicker"] < 1.0 and steady["mean_motion"] > 5.0 and not flagged(steady)
    assert check_clip(medium_clips["flicker"], 2.0)["flicker"] > 10.0
    cut = check_clip(medium_clips["cut"], 2.0)
    assert len(cut["hard_cuts"]) == 1 and cut["hard_cuts"][0] == pytest.approx(1.0, abs=0.15)
    freeze = check_clip(medium_clips["freeze"], 2.0)
    assert len(freeze["frozen_stretches"]) == 1 and freeze["black_stretches"] == []
    start, end = freeze["frozen_stretches"][0]
    assert start == pytest.approx(0.5, abs=0.15) and end == pytest.approx(2.0, abs=0.05)
    assert freeze["frozen_fraction"] == pytest.approx(0.75, abs=0.08) and flagged(freeze)
    black = check_clip(medium_clips["black"], 2.0)
    assert len(black["black_stretches"]) == 1 and black["frozen_fraction"] == 0.0
    start, end = black["black_stretches"][0]
    assert start == pytest.approx(0.5, abs=0.15) and end == pytest.approx(1.25, abs=0.15)
    assert black["black_fraction"] == pytest.approx(0.375, abs=0.08) and not flagged(black)


# ---------------------------------------------------------------------- end to end
VOID = '''
[[model]]
id = "demo/void"
provider = "demo"
name = "Void (demo)"
endpoint = "void"
family = "Demo"
modes = ["t2v"]
duration_range = [1, 12]
aspect_ratios = ["16:9"]
resolutions = ["360p", "720p"]
price_per_second = 0.0
price_source = "test model: renders a black screen on purpose"
price_date = "2026-12-01"
latency_s = 1
options = { look = "void" }
'''


@pytest.fixture
def settings(db_url, tmp_path):
    """The test settings, with the black-screen demo model in the catalog overlay."""
    s = make_settings(db_url, tmp_path)
    s.catalog_dir.mkdir(parents=True, exist_ok=True)
    (s.catalog_dir / "void.toml").write_text(VOID)
    return s


async def _compare(client, board: str | None = None) -> dict:
    body = {"prompt": "a lighthouse at night", "models": ["demo/void", "demo/aurora"], "duration_s": 2,
            "resolution": "360p", "aspect_ratio": "16:9"}
    if board:
        body["board"] = board
    r = await client.post("/api/comparisons", json=body)
    assert r.status_code == 202, r.text
    return await wait_for_takes(client, r.json()["id"], timeout=120)


async def test_a_black_take_is_flagged_everywhere(client, app):
    done = await _compare(client)
    by_model = {t["model"]: t for t in done["takes"]}
    void, aurora = by_model["demo/void"], by_model["demo/aurora"]
    assert void["status"] == "ready" and void["checks_flagged"] is True
    assert void["checks"]["black_fraction"] == 1.0 and void["checks"]["flags"] == ["mostly black (100%)"]
    assert aurora["checks_flagged"] is False and aurora["checks"]["mean_motion"] > 0

    page = await client.get(f"/c/{done['id']}")
    assert page.status_code == 200 and page.text.count("data-checks-flagged") == 1
    assert "mostly black (100%)" in page.text and page.text.count("data-take-checks") == 2

    rows = list(csv.DictReader(io.StringIO((await client.get("/api/boards/default/takes.csv")).text.lstrip("\ufeff"))))
    row = {r["model"]: r for r in rows}
    assert row["demo/void"]["checks_flagged"] == "true" and row["demo/void"]["black_fraction"] == "1.0"
    assert row["demo/void"]["check_flags"] == "mostly black (100%)"
    assert row["demo/aurora"]["checks_flagged"] == "false" and float(row["demo/aurora"]["mean_motion"]) > 0

    table = {m["model"]: m for m in (await client.get("/api/boards/default/comparison-table")).json()["models"]}
    assert (table["demo/void"]["flagged"], table["demo/void"]["checked_takes"]) == (1, 1)
    assert (table["demo/aurora"]["flagged"], table["demo/aurora"]["checked_takes"]) == (0, 1)
    assert table["demo/aurora"]["mean_motion"] == pytest.approx(aurora["checks"]["mean_motion"], abs=1e-3)
    board_page = await client.get("/b/default/leaderboard")
    assert "flagged: 1/1" in board_page.text


async def _csv_models(app, board_id: str, voter: str) -> list[str]:
    async with app.state.db.session() as s:
        text = b"".join([c async for c in take_csv(s, [board_id], hidden_for=([board_id], voter))]).decode()
    return [r["model"] for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))]


async def test_blind_boards_hide_the_checks_until_the_vote(client, app):
    board = await make_board(app, "Blind night", blind=True)
    done = await _compare(client, board.slug)
    assert done["revealed"] is False and all(t.get("checks") is None for t in done["takes"])
    page = await client.get(f"/c/{done['id']}")
    assert "data-take-checks" not in page.text and "mostly black" not in page.text
    # the take CSV of a board where one votes blind: no row of a comparison one has not voted on
    # (the rule of the vote CSV: app.blind.csv_hidden_boards)
    assert await _csv_models(app, board.id, "someone-else") == []
    a, b = (t["id"] for t in done["takes"])
    v = await client.post(f"/api/comparisons/{done['id']}/votes", json={"take_a": a, "take_b": b, "outcome": "b"})
    assert v.status_code == 201, v.text
    async with app.state.db.session() as s:
        voter = (await s.execute(select(Vote.voter_id).where(Vote.comparison_id == done["id"]))).scalars().first()
    assert sorted(await _csv_models(app, board.id, voter)) == ["demo/aurora", "demo/void"]
    after = (await client.get(f"/api/comparisons/{done['id']}")).json()
    assert {t["model"]: t["checks_flagged"] for t in after["takes"]} == {"demo/void": True, "demo/aurora": False}
    assert "mostly black (100%)" in (await client.get(f"/c/{done['id']}")).text


# ---------------------------------------------------------------------- arq workers
SHRUNK = '''
[[model]]
id = "demo/shrunk"
provider = "demo"
name = "Shrunk (demo)"
endpoint = "aurora"
family = "Demo"
modes = ["t2v"]
durations = [2]
aspect_ratios = ["16:9"]
resolutions = ["720p"]
price_per_second = 0.0
price_source = "test model: renders the wrong clip on purpose"
price_date = "2026-12-01"
latency_s = 1
options = { look = "aurora", deliver = { width = 128, height = 72, duration_s = 1 } }
'''


def test_arq_workers_mark_a_wrong_clip_and_flag_a_black_one(pg_database, fresh_redis, tmp_path):
    """The production shape (web + `takes worker` over Redis): a clip delivered at the wrong size
    is kept and marked, a black one flagged, both in the API and the take CSV."""
    import httpx

    from tests.fakes import free_port
    from tests.support.clients import wait_for_takes_over_http
    from tests.support.db import pg_empty
    from tests.support.live import Proc
    from tests.support.settings import settings_env
    from tests.test_arq import _serve, _wait_http

    pg_empty(pg_database)
    s = make_settings(pg_database, tmp_path, redis_url=fresh_redis, lease_s=2.0, sweep_interval_s=0.5)
    s.catalog_dir.mkdir(parents=True, exist_ok=True)
    (s.catalog_dir / "void.toml").write_text(VOID + SHRUNK)
    port = free_port()
    web = _serve(s, tmp_path, port)
    worker = Proc(["worker"], settings_env(s), tmp_path / "worker.log").start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url, web)
        r = httpx.post(url + "/api/comparisons", json={"prompt": "a lighthouse at night", "duration_s": 2,
                                                        "models": ["demo/void", "demo/shrunk"], "aspect_ratio": "16:9",
                                                        "durations": {"demo/void": 2}, "resolution": "720p"})
        assert r.status_code == 202, r.text
        done = wait_for_takes_over_http(url, r.json()["id"])
        by_model = {t["model"]: t for t in done["takes"]}
        assert [t["status"] for t in done["takes"]] == ["ready", "ready"], worker.output()
        shrunk, void = by_model["demo/shrunk"], by_model["demo/void"]
        assert shrunk["as_asked"] is False and "delivered 128×72 for 720p" in shrunk["delivery_notes"]
        assert shrunk["checks_flagged"] is False and void["checks_flagged"] is True
        rows = {row["model"]: row for row in csv.DictReader(io.StringIO(
            httpx.get(url + "/api/boards/default/takes.csv").text.lstrip("\ufeff")))}
        assert rows["demo/shrunk"]["as_asked"] == "false" and "128×72" in rows["demo/shrunk"]["delivery_notes"]
        assert rows["demo/void"]["check_flags"] == "mostly black (100%)"
    finally:
        worker.kill()
        web.kill()
