"""A positive media access check is reused for MEDIA_GRANT_TTL_S (app/web/media_grants.py):
the player's next Range requests are answered from the file with no query, for the same path
and credentials only; a write through this process clears every grant at once, and a change
made elsewhere (another worker, the CLI) is seen once the TTL has passed."""

from __future__ import annotations

from sqlalchemy import delete

from app.models import Membership
from tests.support.factories import add_member, ready_comparison
from tests.support.team import make_team


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _clocked(app) -> Clock:
    clock = Clock()
    app.state.media_grants.clock = clock
    return clock


async def _remove_elsewhere(app, board, user) -> None:
    """The membership deleted as another process would: straight in the database."""
    async with app.state.db.session() as s:
        await s.execute(delete(Membership).where(Membership.board_id == board.id, Membership.user_id == user.id))
        await s.commit()


async def test_a_grant_serves_ranges_without_the_database_until_its_ttl(app):
    team = await make_team(app)
    c = await ready_comparison(app, team.board)
    take = c.takes[0]
    data = bytes(range(256)) * 8192                      # 2 MiB
    app.state.storage.path(take.clip_key).write_bytes(data)
    clock = _clocked(app)
    url = f"/media/takes/{take.id}/video.mp4"
    async with team.client("voter") as voter, team.client("outsider") as outsider:
        first = await voter.get(url, headers={"Range": "bytes=0-99"})
        assert first.status_code == 206 and first.content == data[:100]
        await _remove_elsewhere(app, team.board, team.users["voter"])
        # within the TTL: the remembered grant answers, exactly as the route would
        r = await voter.get(url, headers={"Range": "bytes=1048576-2097151"})
        assert r.status_code == 206 and r.content == data[1048576:2097152]
        assert r.headers["content-range"] == f"bytes 1048576-2097151/{len(data)}"
        assert r.headers["x-content-type-options"] == "nosniff"        # the security headers still
        r = await voter.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert r.status_code == 304
        # another person's credentials never use it
        assert (await outsider.get(url)).status_code == 404
        clock.now += app.state.settings.media_grant_ttl_s + 0.1
        r = await voter.get(url, headers={"Range": "bytes=0-99"})
        assert r.status_code == 404 and r.json()["detail"] == "no such take"


async def test_a_write_through_this_process_ends_every_grant_at_once(app):
    team = await make_team(app)
    c = await ready_comparison(app, team.board)
    take = c.takes[0]
    _clocked(app)
    url = f"/media/takes/{take.id}/poster.jpg"
    async with team.client("viewer") as viewer, team.client("owner") as owner:
        assert (await viewer.get(url)).status_code == 200
        await _remove_elsewhere(app, team.board, team.users["viewer"])
        # a vote changes nobody's access: the grant stays (the removal above is not seen yet)
        a, b = (t.id for t in c.takes)
        r = await owner.post(f"/api/comparisons/{c.id}/votes", json={"take_a": a, "take_b": b, "outcome": "a"})
        assert r.status_code == 201, r.text
        assert (await viewer.get(url)).status_code == 200
        await add_member(app, team.board, team.users["viewer"], "viewer")
        r = await owner.delete(f"/api/boards/{team.board.slug}/members/{team.users['viewer'].id}")
        assert r.status_code == 204, r.text
        assert (await viewer.get(url)).status_code == 404


async def test_no_grant_is_kept_with_a_ttl_of_zero(app):
    app.state.media_grants.ttl = 0
    team = await make_team(app)
    c = await ready_comparison(app, team.board)
    url = f"/media/takes/{c.takes[0].id}/video.mp4"
    async with team.client("voter") as voter:
        assert (await voter.get(url)).status_code == 200
        await _remove_elsewhere(app, team.board, team.users["voter"])
        assert (await voter.get(url)).status_code == 404


async def test_a_grant_for_a_file_that_went_falls_back_to_the_route(app, client):
    c = await ready_comparison(app)
    take = c.takes[0]
    url = f"/media/takes/{take.id}/video.mp4"
    assert (await client.get(url)).status_code == 200
    app.state.storage.path(take.clip_key).unlink()
    r = await client.get(url)
    assert r.status_code == 404 and r.json()["detail"] == "no such media"


def test_a_download_is_never_remembered():
    """A download's file name names the model once revealed: it follows a board made blind
    at once (test_jobs checks it end to end), so only playback answers are remembered."""
    from app.web.media_grants import Grants, Plan

    grants = Grants(5.0, clock=Clock())
    scope = {"path": "/media/takes/t1/original.mp4", "headers": []}
    grants.put(scope, Plan("takes/t1/original.mp4", "video/mp4", "take-t1-aurora.mp4"))
    assert grants.get(scope) is None
    scope = {"path": "/media/takes/t1/video.mp4", "headers": []}
    grants.put(scope, Plan("takes/t1/video.mp4", "video/mp4"))
    assert grants.get(scope) == Plan("takes/t1/video.mp4", "video/mp4")
