"""The review page's world for layout, accessibility and screenshot runs: comparisons of 2, 4
and 6 ready takes (factories, nothing rendered). The catalog has four demo models; two more are
added the way users add models (a TOML file in CATALOG_DIR) so a comparison can have six."""

from __future__ import annotations

DRIFT = """
[[model]]
id = "demo/drift"
provider = "demo"
name = "Drift (demo)"
endpoint = "drift"
family = "Demo"
modes = ["t2v"]
duration_range = [1, 12]
default_duration = 4
aspect_ratios = ["16:9"]
resolutions = ["360p", "480p", "720p"]
audio = "none"
price_per_second = 0.0
price_source = "test model: free"
price_date = "2026-11-25"
latency_s = 1
options = { fps = 25, look = "ember" }

"""

GLOW = """
[[model]]
id = "demo/glow"
provider = "demo"
name = "Glow (demo)"
endpoint = "glow"
family = "Demo"
modes = ["t2v"]
duration_range = [1, 12]
default_duration = 4
aspect_ratios = ["16:9"]
resolutions = ["360p", "480p", "720p"]
audio = "none"
price_per_second = 0.0
price_source = "test model: free"
price_date = "2026-11-25"
latency_s = 1
options = { fps = 30, look = "aurora" }
"""
EXTRA_MODELS = DRIFT + GLOW

SIX = ("demo/aurora", "demo/blocks", "demo/ember", "demo/tape", "demo/drift", "demo/glow")
NAMES = ("Aurora (demo)", "Blocks (demo)", "Ember (demo)", "Tape (demo)", "Drift (demo)", "Glow (demo)")
PROMPT = "a red kite over a windy beach at dusk, slow dolly in, cinematic light"


def add_models(settings) -> None:
    """Put the two extra demo models into `settings`' CATALOG_DIR."""
    settings.catalog_dir.mkdir(parents=True, exist_ok=True)
    (settings.catalog_dir / "review-models.toml").write_text(EXTRA_MODELS)


async def build_world(app) -> dict:
    """An admin (so accounts are on) owning a blind board with comparisons of 2, 4 and 6 ready
    takes, votes from three reviewers on the 2- and 4-take ones (so the leaderboard has rows),
    and an invite link. Returns the ids and the admin's session token."""
    from app.invites import create_invite
    from app.models import Board
    from tests.support.factories import make_board, make_user, make_voter, ready_comparison, session_token, vote

    admin = await make_user(app, "ada@example.com", admin=True, name="Ada")
    board = await make_board(app, "Launch shots", owner_id=admin.id, slug="launch")
    # the pair starts from a source image (its thumbnail sits beside the prompt)
    ids = {n: (await ready_comparison(app, board, SIX[:n], PROMPT if n != 6 else PROMPT + " (six takes)", n == 2)).id
           for n in (2, 4, 6)}
    shots = []
    for i in range(3):
        voter = await make_voter(app, f"Reviewer {i + 1}")
        for n in (2, 4):
            c = await ready_comparison(app, board, SIX[:n], f"shot {i}-{n}: a lighthouse in fog", False)
            takes = sorted(c.takes, key=lambda t: t.model_id)
            await vote(app, c, voter.id, kind="best", best=takes[i % n].id)
            shots.append(c.id)
    async with app.state.db.session() as s:
        invite = await create_invite(s, await s.get(Board, board.id), admin.id, "voter", 24)
        suite = await _finished_suite(s, board.id, shots)
    return {"comparisons": ids, "board": board.slug, "session": await session_token(app, admin),
            "invite": invite.token, "suite": suite}


async def _finished_suite(s, board_id: str, comparison_ids: list[str]) -> str:
    """A finished suite holding the reviewers' comparisons (written as rows: no generation)."""
    from app.models import Comparison, ComparisonTag, Suite

    suite = Suite(board_id=board_id, name="Lighthouse shot list", status="done", models=list(SIX[:4]),
                  prompts=len(comparison_ids), params={"duration_s": 4, "aspect_ratio": "16:9", "resolution": "360p"})
    s.add(suite)
    await s.flush()
    for i, cid in enumerate(comparison_ids):
        (await s.get(Comparison, cid)).suite_id = suite.id
        s.add(ComparisonTag(comparison_id=cid, tag="establishing" if i % 2 else "weather"))
    await s.commit()
    return suite.id


def main_pages(world: dict) -> dict[str, str]:
    """Every main page of the app, by name → path (signed in as the world's admin)."""
    slug, c = world["board"], world["comparisons"]
    return {
        "new-comparison": "/", "boards": "/boards", "board": f"/b/{slug}", "board-settings": f"/b/{slug}/settings",
        "comparison-2": f"/c/{c[2]}", "comparison-4": f"/c/{c[4]}", "comparison-6": f"/c/{c[6]}",
        "leaderboard": "/leaderboard", "board-leaderboard": f"/b/{slug}/leaderboard", "models": "/models",
        "account": "/account", "report": f"/b/{slug}/report", "reviewers": f"/b/{slug}/reviewers",
        "suite-new": "/suites/new", "suite": f"/suites/{world['suite']}",
    }


def signed_out_pages(world: dict) -> dict[str, str]:
    return {"signin": "/signin", "signup": "/signup", "invite": f"/invite/{world['invite']}"}


SIZES = ((1440, 900), (390, 844))
"""The two window sizes of the screenshots in docs/screenshots/ (issue 12)."""
