"""Shaping comparisons and takes for templates and JSON: labels, URLs, blind rules.

Blind rules live here so the page and the API agree: on a blind board the voter sees takes
as A, B, C … in a per-voter shuffled order, sees no player until every take has finished
(generation speed would give the models away), and sees names only after voting.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from app.catalog import Catalog
from app.models import Comparison, Take
from app.votes import screen_order


def video_url(take: Take) -> str | None:
    return f"/media/takes/{take.id}/video.mp4" if take.status == "ready" else None


def poster_url(take: Take) -> str | None:
    return f"/media/takes/{take.id}/poster.jpg" if take.poster_key else None


def model_name(catalog: Catalog, model_id: str) -> str:
    spec = catalog.get(model_id)
    return spec.name if spec else model_id


def take_json(take: Take, catalog: Catalog) -> dict:
    return {
        "id": take.id, "model": take.model_id, "model_name": model_name(catalog, take.model_id),
        "attempt": take.attempt, "status": take.status, "progress": take.progress,
        "video_url": video_url(take), "original_url": f"/media/takes/{take.id}/original.mp4" if take.clip_key else None,
        "poster_url": poster_url(take), "duration_s": take.duration_s, "fps": take.fps, "width": take.width,
        "height": take.height, "has_audio": take.has_audio,
        "error": {"code": take.error_code, "message": take.error_message} if take.status == "failed" else None,
        "cost_estimate_usd": take.cost_estimate_usd, "cost_usd": take.cost_usd, "accepted": take.accepted,
        "created_at": take.created_at.isoformat(),
        "submitted_at": take.submitted_at.isoformat() if take.submitted_at else None,
        "finished_at": take.finished_at.isoformat() if take.finished_at else None,
        "generation_s": take.generation_s,
    }


def comparison_json(c: Comparison, catalog: Catalog) -> dict:
    return {
        "id": c.id, "board": c.board.slug, "prompt": c.prompt, "params": c.params,
        "source_image_url": f"/media/comparisons/{c.id}/source" if c.source_image else None,
        "created_at": c.created_at.isoformat(),
        "cost_estimate_usd": _sum([t.cost_estimate_usd for t in c.takes]),
        "takes": [take_json(t, catalog) for t in sorted(c.takes, key=lambda t: (t.created_at, t.id))],
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

    @property
    def ready_tiles(self) -> list[Tile]:
        return [t for t in self.tiles if t.take.status == "ready"]

    @property
    def show_grid(self) -> bool:
        if self.blind and not self.revealed:
            return self.all_done and len(self.ready_tiles) >= 1
        return len(self.ready_tiles) >= 1

    @property
    def ready_key(self) -> str:
        return ",".join(t.take.id for t in self.ready_tiles) + (":r" if self.revealed else "") if self.show_grid else ""


def comparison_view(c: Comparison, catalog: Catalog, voter_id: str | None, voted: bool) -> ComparisonView:
    blind = c.board.blind
    revealed = (not blind) or voted
    order = screen_order(list(c.takes), voter_id, c.id, shuffle=blind)
    tiles = []
    slots = iter(range(len(order)))
    for i, take in enumerate(order):
        label = string.ascii_uppercase[i] if i < 26 else str(i + 1)
        name = model_name(catalog, take.model_id)
        if take.attempt > 1:
            name += f" · take {take.attempt}"
        tiles.append(Tile(take, label, name if revealed else None, next(slots) if take.status == "ready" else -1))
    return ComparisonView(c, tiles, blind, revealed, all(t.terminal for t in c.takes))
