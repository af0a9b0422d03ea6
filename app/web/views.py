"""Shaping comparisons, takes and board cards for templates and JSON: labels, URLs.

What a blind board hides is app.blind's call; this module applies it, so the page and the API
show the same: takes as A, B, C … in the voter's own order, no player until every take has
finished, names only after the vote.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from app import blind as blind_rules
from app.catalog import Catalog
from app.media import file_type
from app.models import Comparison, Take
from app.votes import screen_order


def video_url(take: Take) -> str | None:
    return f"/media/takes/{take.id}/video.mp4" if take.status == "ready" else None


def original_type(take: Take) -> tuple[str, str]:
    """(extension, MIME type) of the take's untouched original, as probed."""
    return file_type(take.media_info)


def original_url(take: Take) -> str | None:
    return f"/media/takes/{take.id}/original.{original_type(take)[0]}" if take.clip_key else None


def poster_url(take: Take) -> str | None:
    return f"/media/takes/{take.id}/poster.jpg" if take.poster_key else None


def reference_url(c: Comparison) -> str | None:
    return f"/media/comparisons/{c.id}/reference" if c.reference_video else None


def model_name(catalog: Catalog, model_id: str) -> str:
    spec = catalog.get(model_id)
    return spec.name if spec else model_id


def take_json(take: Take, catalog: Catalog) -> dict:
    return {
        "id": take.id, "model": take.model_id, "model_name": model_name(catalog, take.model_id),
        "attempt": take.attempt, "status": take.status, "progress": take.progress,
        "video_url": video_url(take), "original_url": original_url(take),
        "poster_url": poster_url(take), "duration_s": take.duration_s, "fps": take.fps, "width": take.width,
        "height": take.height, "has_audio": take.has_audio,
        "error": {"code": take.error_code, "message": take.error_message} if take.status == "failed" else None,
        "cost_estimate_usd": take.cost_estimate_usd, "cost_usd": take.cost_usd, "accepted": take.accepted,
        "created_at": take.created_at.isoformat(),
        "submitted_at": take.submitted_at.isoformat() if take.submitted_at else None,
        "finished_at": take.finished_at.isoformat() if take.finished_at else None,
        "generation_s": take.generation_s,
        "as_asked": take.as_asked, "delivery_notes": list(take.delivery_notes or []),
        "rewritten_prompt": take.rewritten_prompt,
        "actual_cost_usd": take.actual_cost_usd, "cost_usage": take.cost_usage,
        "checks": take.checks or None, "checks_flagged": take.checks_flagged,
    }


def comparison_json(c: Comparison, catalog: Catalog, view: ComparisonView | None = None) -> dict:
    """The comparison for the API. Given the viewer's `view` of a blind board they have not
    voted on yet, it shows what the page shows and no more: takes in their screen order as
    A, B, C …, no model, timings, costs or provider messages, and no media until every take
    has finished (see the module docstring)."""
    out = {
        "id": c.id, "board": c.board.slug, "prompt": c.prompt, "params": c.params,
        "source_image_url": f"/media/comparisons/{c.id}/source" if c.source_image else None,
        "reference_video_url": reference_url(c),
        "created_at": c.created_at.isoformat(),
        "cost_estimate_usd": _sum([t.cost_estimate_usd for t in c.takes]),
        "blind": bool(view and view.blind), "revealed": True,
        "takes": [take_json(t, catalog) for t in sorted(c.takes, key=lambda t: (t.created_at, t.id))],
    }
    if view is not None and view.blind:
        labels = {tile.take.id: tile.label for tile in view.tiles}
        for t in out["takes"]:
            t["label"] = labels.get(t["id"])
        if not view.revealed:
            out["revealed"] = False
            out["params"] = {k: v for k, v in c.params.items() if k != "durations"}   # names models
            out["takes"] = [_blind_take_json(tile.take, tile.label, view.all_done) for tile in view.tiles]
    return out


def _blind_take_json(take: Take, label: str, all_done: bool) -> dict:
    shown = blind_rules.players_shown(True, False, all_done)  # else only whether each take has finished
    return {
        "id": take.id, "label": label, "model": None, "model_name": None,
        "status": take.status if shown else ("finished" if take.terminal else "generating"),
        "video_url": video_url(take) if shown else None, "poster_url": poster_url(take) if shown else None,
        # length, frame rate, size and whether there is an audio track differ by model: kept
        # back until the vote, as the page's tiles do (app/blind.py §7); the sound itself is in
        # the clip and part of what is judged
        "duration_s": None, "fps": None, "width": None, "height": None, "has_audio": None,
        "error": {"code": take.error_code, "message": None} if shown and take.status == "failed" else None,
    }


def _sum(values):
    return None if any(v is None for v in values) else round(sum(values), 4)


@dataclass
class Tile:
    take: Take
    label: str
    name: str | None     # None while hidden (blind and not yet voted)
    position: int

    def as_player_tile(self) -> dict:
        t = self.take
        return {"take_id": t.id, "label": self.label, "name": self.name, "video_url": video_url(t),
                "poster_url": poster_url(t), "fps": t.fps or 24.0, "duration_s": t.duration_s or 0.0,
                "width": t.width or 16, "height": t.height or 9, "has_audio": bool(t.has_audio)}


@dataclass
class ComparisonView:
    comparison: Comparison
    tiles: list[Tile]            # every take, in this voter's screen order
    blind: bool
    revealed: bool
    all_done: bool
    role: str | None = None      # the viewer's role on the board (what the page offers them)
    asked: tuple[str, str] | None = None   # the pair `next` asked this voter to compare (app/picks.py)
    observer: bool = False       # an owner or editor watching: sees results at once, votes not blind

    @property
    def ready_tiles(self) -> list[Tile]:
        return [t for t in self.tiles if t.take.status == "ready"]

    @property
    def show_grid(self) -> bool:
        return blind_rules.players_shown(self.blind, self.revealed, self.all_done) and len(self.ready_tiles) >= 1

    @property
    def ready_key(self) -> str:
        return ",".join(t.take.id for t in self.ready_tiles) + (":r" if self.revealed else "") if self.show_grid else ""


def comparison_view(c: Comparison, catalog: Catalog, voter_id: str | None, voted: bool,
                    observer: bool = False) -> ComparisonView:
    blind = c.board.blind
    revealed = blind_rules.revealed(blind, voted, observer)
    order = screen_order(list(c.takes), voter_id, c.id, shuffle=blind)
    tiles = []
    slots = iter(range(len(order)))
    for i, take in enumerate(order):
        label = string.ascii_uppercase[i] if i < 26 else str(i + 1)
        name = model_name(catalog, take.model_id)
        if take.attempt > 1:
            name += f" · take {take.attempt}"
        tiles.append(Tile(take, label, name if revealed else None, next(slots) if take.status == "ready" else -1))
    return ComparisonView(c, tiles, blind, revealed, all(t.terminal for t in c.takes), observer=observer)


def ballot_choice(rows: list, tiles: list[Tile]) -> tuple[str, list[str]]:
    """What a ballot chose, in words, and the take ids it picked: the reveal after a vote says
    "You chose B (Blocks) over A (Aurora)", so a reviewer sees their pick against the names."""
    who = {t.take.id: f"{t.label} ({t.name})" if t.name else t.label for t in tiles}
    first = rows[0]
    winner_of = (lambda v: v.take_a_id if v.winner == "model_a" else v.take_b_id)
    if first.kind == "pair":
        a, b = who.get(first.take_a_id, "?"), who.get(first.take_b_id, "?")
        if first.winner == "tie":
            return f"You called {a} and {b} a tie.", []
        if first.winner not in ("model_a", "model_b"):
            return f"You said {a} and {b} are both bad.", []
        won = winner_of(first)
        lost = first.take_b_id if won == first.take_a_id else first.take_a_id
        return f"You chose {who.get(won, '?')} over {who.get(lost, '?')}.", [won]
    if first.kind == "best":
        best = winner_of(first)
        return f"You picked {who.get(best, '?')} as the best of {len(rows) + 1}.", [best]
    wins: dict[str, int] = {}
    for v in rows:
        for tid in (v.take_a_id, v.take_b_id):
            wins.setdefault(tid, 0)
        wins[winner_of(v)] += 1
    order = sorted(wins, key=lambda tid: -wins[tid])
    return "Your ranking: " + " > ".join(who.get(t, "?") for t in order) + ".", order[:1]


@dataclass
class RecentComparison:
    """A line of the home page's recent comparisons: what it shows, nothing more."""

    id: str
    prompt: str
    created_at: object
    board_name: str
    takes: int = 0
    ready: int = 0


async def recent_comparisons(s, boards: list, limit: int = 12) -> list[RecentComparison]:
    """The newest comparisons of these boards, with their take counts: two small Core queries
    (the ORM objects with their takes and boards cost more than the rest of the page)."""
    from sqlalchemy import case, func, select

    if not boards:
        return []
    names = {b.id: b.name for b in boards}
    out = [RecentComparison(cid, prompt, created, names[bid]) for cid, prompt, created, bid in (await s.execute(
        select(Comparison.id, Comparison.prompt, Comparison.created_at, Comparison.board_id)
        .where(Comparison.board_id.in_(list(names))).order_by(Comparison.created_at.desc()).limit(limit))).all()]
    if out:
        counts = {cid: (n, r) for cid, n, r in (await s.execute(
            select(Take.comparison_id, func.count(), func.sum(case((Take.status == "ready", 1), else_=0)))
            .where(Take.comparison_id.in_([c.id for c in out])).group_by(Take.comparison_id))).all()}
        for c in out:
            c.takes, c.ready = counts.get(c.id, (0, 0))
            c.ready = int(c.ready or 0)
    return out
