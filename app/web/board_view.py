"""The board page's cards: one per comparison, with its posters, status, counts and win shares.

Why this reads rows, not ORM objects: a board of 200 comparisons × 4 takes loaded as ORM
objects (every column, JSON columns decoded, identity map, selectin loader) cost more than the
rest of the page together. The card shows a handful of columns, so only those are selected
(Core rows), and the votes come already counted per comparison and outcome from the database
(one row per (comparison, model pair, winner), not one per vote). What the cards show, and what
a blind board hides, is unchanged: app.blind decides (poster_order, revealed, card_names_shown).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import func, select

from app import blind as blind_rules
from app.catalog import Catalog
from app.models import TERMINAL_STATES, Comment, Comparison, Take, Vote
from app.web.templating import ago
from app.web.views import model_name

COMPARISON_STATUSES = {"generating": "Generating", "ready": "Ready", "failed": "Nothing playable"}


@dataclass
class CardTake:
    """The columns of a take a board card uses (what templates/board.html and app.blind read)."""

    id: str
    comparison_id: str
    model_id: str
    status: str
    poster_key: str | None
    created_at: object

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATES


@dataclass
class CardComparison:
    id: str
    prompt: str
    created_at: object
    takes: list[CardTake]


class ShownPoster(NamedTuple):
    id: str
    poster: bool                 # has a poster image (else its status is shown)
    status: str


class CardShown(NamedTuple):
    """Everything a board card's markup shows, and nothing else: templates/board.html renders
    a card from this value alone, so the rendering is kept per value (app.web.fragments.keyed)
    and shared by every viewer whose card shows the same. Who may see what was decided before
    (posters in this voter's order, shares and names only where app.blind allows)."""

    id: str
    status: str
    ready: int
    total: int
    ballots: int
    comments: int
    voted: bool
    posters: tuple[ShownPoster, ...]
    prompt: str
    ago: str
    names: tuple[str, ...] | None
    shares: tuple[tuple[str, float, int], ...] | None


@dataclass
class BoardCard:
    comparison: CardComparison
    status: str                  # generating | ready | failed
    ready: int
    total: int
    ballots: int
    comments: int
    voted: bool
    posters: list[CardTake]
    shares: list[tuple[str, float, int]] | None  # (model name, win share, pairs); None while blind and unvoted
    names: list[str] | None = None  # the models, where names may be shown

    @property
    def shown(self) -> CardShown:
        c = self.comparison
        return CardShown(c.id, self.status, self.ready, self.total, self.ballots, self.comments, self.voted,
                         tuple(ShownPoster(t.id, bool(t.poster_key), t.status) for t in self.posters), c.prompt,
                         ago(c.created_at), tuple(self.names) if self.names is not None else None,
                         tuple(self.shares) if self.shares is not None else None)


@dataclass
class BoardOverview:
    cards: list[BoardCard]
    total: int                   # comparisons on the board, before filters
    votable: int                 # with at least two ready takes
    voted: int                   # … of which I have voted on
    models: list[tuple[str, str]]  # (id, name) of every model on the board, for the filter
    filters: dict


def comparison_status(c) -> str:
    if any(not t.terminal for t in c.takes):
        return "generating"
    return "ready" if any(t.status == "ready" for t in c.takes) else "failed"


def win_shares(rows, catalog: Catalog) -> list[tuple[str, float, int]]:
    """Each model's share of its pairwise outcomes in one comparison (a tie counts half).
    `rows`: (model_a, model_b, winner, how many votes had that outcome)."""
    score: dict[str, float] = {}
    pairs: dict[str, int] = {}
    for model_a, model_b, winner, n in rows:
        for m in (model_a, model_b):
            pairs[m] = pairs.get(m, 0) + n
            score.setdefault(m, 0.0)
        if winner == "model_a":
            score[model_a] += n
        elif winner == "model_b":
            score[model_b] += n
        else:
            score[model_a] += 0.5 * n
            score[model_b] += 0.5 * n
    out = [(model_name(catalog, m), score[m] / pairs[m], pairs[m]) for m in pairs]
    return sorted(out, key=lambda x: (-x[1], x[0]))


async def board_comparisons(s, board_id: str) -> list[CardComparison]:
    """The board's comparisons, newest first, each with its takes: two queries of the card's columns."""
    comps = [CardComparison(cid, prompt, created, []) for cid, prompt, created in (await s.execute(
        select(Comparison.id, Comparison.prompt, Comparison.created_at).where(Comparison.board_id == board_id)
        .order_by(Comparison.created_at.desc(), Comparison.id))).all()]
    by_id = {c.id: c for c in comps}
    rows = (await s.execute(
        select(Take.id, Take.comparison_id, Take.model_id, Take.status, Take.poster_key, Take.created_at)
        .join(Comparison, Comparison.id == Take.comparison_id).where(Comparison.board_id == board_id)
        .order_by(Take.comparison_id, Take.created_at, Take.id))).all()
    for row in rows:
        c = by_id.get(row[1])
        if c is not None:
            c.takes.append(CardTake(*row))
    return comps


async def _vote_facts(s, board_id: str, voter_id: str | None, fresh_voter: bool = False
                      ) -> tuple[dict, dict, set, dict]:
    """Ballots and comments per comparison, the comparisons this voter voted on, and the
    counted outcomes per comparison."""
    active = (Vote.board_id == board_id) & Vote.superseded_at.is_(None)
    ballots = dict((await s.execute(select(Vote.comparison_id, func.count(func.distinct(Vote.ballot_id)))
                                    .where(active).group_by(Vote.comparison_id))).all())
    comments = dict((await s.execute(select(Comment.comparison_id, func.count()).where(Comment.board_id == board_id)
                                     .group_by(Comment.comparison_id))).all())
    mine = set((await s.execute(select(Vote.comparison_id).where(active, Vote.voter_id == voter_id)
                                .distinct())).scalars().all()) if voter_id and not fresh_voter else set()
    outcomes: dict[str, list] = {}
    for cid, a, b, w, n in (await s.execute(
            select(Vote.comparison_id, Vote.model_a, Vote.model_b, Vote.winner, func.count()).where(active)
            .group_by(Vote.comparison_id, Vote.model_a, Vote.model_b, Vote.winner))).all():
        outcomes.setdefault(cid, []).append((a, b, w, n))
    return ballots, comments, mine, outcomes


async def board_overview(s, board, catalog: Catalog, voter_id: str | None, *, model: str = "", status: str = "",
                         mine: str = "", observer: bool = False, fresh_voter: bool = False) -> BoardOverview:
    """The board's cards for this voter. `fresh_voter`: the id was minted by this request, so
    it has voted on nothing (the lookup is skipped)."""
    comparisons = await board_comparisons(s, board.id)
    ballots, comments, mine_ids, outcomes = await _vote_facts(s, board.id, voter_id, fresh_voter)
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
        posters = blind_rules.poster_order(c.takes, board.blind, voter_id, c.id)
        shown = blind_rules.revealed(board.blind, did, observer)
        cards.append(BoardCard(c, st, ready, len(c.takes), ballots.get(c.id, 0), comments.get(c.id, 0), did,
                               posters[:4], win_shares(outcomes.get(c.id, []), catalog) if shown else None,
                               [model_name(catalog, t.model_id) for t in c.takes]
                               if blind_rules.card_names_shown(board.blind) else None))
    return BoardOverview(cards, len(comparisons), votable, voted,
                         [(m, model_name(catalog, m)) for m in model_ids],
                         {"model": model, "status": status, "mine": mine})
