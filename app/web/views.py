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
    }


def comparison_json(c: Comparison, catalog: Catalog, view: ComparisonView | None = None) -> dict:
    """The comparison for the API. Given the viewer's `view` of a blind board they have not
    voted on yet, it shows what the page shows and no more: takes in their screen order as
    A, B, C …, no model, timings, costs or provider messages, and no media until every take
    has finished (see the module docstring)."""
    out = {
        "id": c.id, "board": c.board.slug, "prompt": c.prompt, "params": c.params,
        "source_image_url": f"/media/comparisons/{c.id}/source" if c.source_image else None,
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
        "duration_s": take.duration_s if shown else None, "fps": take.fps if shown else None,
        "width": take.width if shown else None, "height": take.height if shown else None,
        "has_audio": take.has_audio if shown else None,
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

    @property
    def ready_tiles(self) -> list[Tile]:
        return [t for t in self.tiles if t.take.status == "ready"]

    @property
    def show_grid(self) -> bool:
        return blind_rules.players_shown(self.blind, self.revealed, self.all_done) and len(self.ready_tiles) >= 1

    @property
    def ready_key(self) -> str:
        return ",".join(t.take.id for t in self.ready_tiles) + (":r" if self.revealed else "") if self.show_grid else ""


def comparison_view(c: Comparison, catalog: Catalog, voter_id: str | None, voted: bool) -> ComparisonView:
    blind = c.board.blind
    revealed = blind_rules.revealed(blind, voted)
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


# ---- the board page ---------------------------------------------------------------------------

COMPARISON_STATUSES = {"generating": "Generating", "ready": "Ready", "failed": "Nothing playable"}


@dataclass
class BoardCard:
    comparison: Comparison
    status: str                  # generating | ready | failed
    ready: int
    total: int
    ballots: int
    comments: int
    voted: bool
    posters: list[Take]
    shares: list[tuple[str, float, int]] | None  # (model name, win share, pairs); None while blind and unvoted
    names: list[str] | None = None  # the models, where names may be shown


@dataclass
class BoardOverview:
    cards: list[BoardCard]
    total: int                   # comparisons on the board, before filters
    votable: int                 # with at least two ready takes
    voted: int                   # … of which I have voted on
    models: list[tuple[str, str]]  # (id, name) of every model on the board, for the filter
    filters: dict


def comparison_status(c: Comparison) -> str:
    if any(not t.terminal for t in c.takes):
        return "generating"
    return "ready" if any(t.status == "ready" for t in c.takes) else "failed"


def win_shares(rows, catalog: Catalog) -> list[tuple[str, float, int]]:
    """Each model's share of its pairwise outcomes in one comparison (a tie counts half)."""
    score: dict[str, float] = {}
    pairs: dict[str, int] = {}
    for model_a, model_b, winner in rows:
        for m in (model_a, model_b):
            pairs[m] = pairs.get(m, 0) + 1
            score.setdefault(m, 0.0)
        if winner == "model_a":
            score[model_a] += 1
        elif winner == "model_b":
            score[model_b] += 1
        else:
            score[model_a] += 0.5
            score[model_b] += 0.5
    out = [(model_name(catalog, m), score[m] / pairs[m], pairs[m]) for m in pairs]
    return sorted(out, key=lambda x: (-x[1], x[0]))


async def board_overview(s, board, catalog: Catalog, voter_id: str | None, *, model: str = "", status: str = "",
                         mine: str = "") -> BoardOverview:
    from sqlalchemy import func, select
    from sqlalchemy.orm import selectinload

    from app.models import Comment, Vote

    comparisons = (await s.execute(
        select(Comparison).where(Comparison.board_id == board.id).options(selectinload(Comparison.takes))
        .order_by(Comparison.created_at.desc(), Comparison.id))).scalars().all()
    active = (Vote.board_id == board.id) & Vote.superseded_at.is_(None)
    ballots = dict((await s.execute(select(Vote.comparison_id, func.count(func.distinct(Vote.ballot_id)))
                                    .where(active).group_by(Vote.comparison_id))).all())
    comments = dict((await s.execute(select(Comment.comparison_id, func.count()).where(Comment.board_id == board.id)
                                     .group_by(Comment.comparison_id))).all())
    mine_ids = set((await s.execute(select(Vote.comparison_id).where(active, Vote.voter_id == voter_id)
                                    .distinct())).scalars().all()) if voter_id else set()
    outcomes: dict[str, list] = {}
    for cid, a, b, w in (await s.execute(select(Vote.comparison_id, Vote.model_a, Vote.model_b, Vote.winner)
                                         .where(active))).all():
        outcomes.setdefault(cid, []).append((a, b, w))
    model_ids = sorted({t.model_id for c in comparisons for t in c.takes})
    cards, votable, voted = [], 0, 0
    for c in comparisons:
        ready = sum(t.status == "ready" for t in c.takes)
        did = c.id in mine_ids
        if ready >= 2:
            votable += 1
            voted += did
        st = comparison_status(c)
        if (model and all(t.model_id != model for t in c.takes)) or (status and st != status) \
                or (mine == "voted" and not did) or (mine == "unvoted" and did):
            continue
        posters = blind_rules.poster_order(c.takes, board.blind)
        shown = blind_rules.revealed(board.blind, did)
        cards.append(BoardCard(c, st, ready, len(c.takes), ballots.get(c.id, 0), comments.get(c.id, 0), did,
                               posters[:4], win_shares(outcomes.get(c.id, []), catalog) if shown else None,
                               [model_name(catalog, t.model_id) for t in c.takes]
                               if blind_rules.card_names_shown(board.blind) else None))
    return BoardOverview(cards, len(comparisons), votable, voted,
                         [(m, model_name(catalog, m)) for m in model_ids],
                         {"model": model, "status": status, "mine": mine})
