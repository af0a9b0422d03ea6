"""Decisions in words for a board: per criterion and per tag, "Kling v3 beats Veo 3.1 on
motion: settled, 97 %" and "the top model is settled — further votes will not change it".

The numbers are app/decisions.py's (P(A better than B) from the leaderboard's fit, settled at
≥ 95 % when the anytime-valid test agrees at 95 %); this module asks the database for the fits (app/leaderboard.py, so the words always
agree with the leaderboard beside them) and says them. Who may read the model names is
app/blind.py's call (`decisions_named`): for a reviewer still voting blind, the models are
"#1", "#2" … in leaderboard order — the order and how sure it is, not who.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app import leaderboard as lb
from app.boards import CRITERIA
from app.decisions import Decisions, decide, say_pair, say_top
from app.ranking import Ranking


@dataclass(frozen=True)
class Verdicts:
    """One scope's decisions (a criterion, or a tag within the overall criterion) and their words."""

    criterion: str
    tag: str | None
    decisions: Decisions
    top_text: str
    pair_texts: list[str]          # in decisions.pairs order
    labels: dict[str, str]         # model id → what the words call it
    votes: int
    named: bool = True             # False: models are "#1", "#2" … (app/blind.py decisions_named)


NameOf = Callable[[str], str]      # model id → its name (the catalog's)


def labels_for(r: Ranking, name_of: NameOf, named: bool) -> dict[str, str]:
    """What the words call each model: its name, or (blind) its place on the leaderboard."""
    if named:
        return {m.model: name_of(m.model) for m in r.models}
    return {m.model: f"#{i + 1}" for i, m in enumerate(r.models)}


def verdicts_of(r: Ranking, criterion: str, name_of: NameOf = str, named: bool = True,
                tag: str | None = None) -> Verdicts:
    """The words for one fit: "on motion" for a criterion (its label, lower case), "for walk"
    for a tag."""
    d = decide(r)
    labels = labels_for(r, name_of, named)
    on = CRITERIA.get(criterion, criterion).lower() if criterion != "overall" else None
    top = say_top(d.top, labels, on)
    pairs = [say_pair(p, labels, on) for p in d.pairs]
    if tag:
        top = top.replace("the top model", f"the top model for {tag}", 1).replace("no top model", f"no top model for {tag}", 1)
        pairs = [p.replace(": ", f" for {tag}: ", 1) for p in pairs]
    return Verdicts(criterion, tag, d, top, pairs, labels, r.votes, named)


async def board_verdicts(s: AsyncSession, board_ids: Sequence[str], criteria: Sequence[str],
                         name_of: NameOf = str, *, named: bool = True,
                         tags: Mapping[str, Sequence[str]] | None = None,
                         comparison_ids: Sequence[str] | None = None) -> list[Verdicts]:
    """Each criterion's verdicts, then (overall criterion) each tag's, for scopes with votes.
    `tags` maps comparison id → tags (app.tags.tags_by_board_comparison); `comparison_ids`
    limits everything to those comparisons (a report of one suite)."""
    out = []
    for criterion in criteria:
        r = await lb.leaderboard(s, board_ids, criterion, comparison_ids=comparison_ids)
        if r.votes:
            out.append(verdicts_of(r, criterion, name_of, named))
    by_tag: dict[str, list[str]] = {}
    for cid, ts in (tags or {}).items():
        if comparison_ids is None or cid in set(comparison_ids):
            for t in ts:
                by_tag.setdefault(t, []).append(cid)
    for tag in sorted(by_tag):
        r = await lb.leaderboard(s, board_ids, "overall", comparison_ids=by_tag[tag])
        if r.votes:
            out.append(verdicts_of(r, "overall", name_of, named, tag))
    return out


def verdicts_json(v: Verdicts) -> dict:
    """The leaderboard API's `decisions` section (app/web/leaderboard.py DecisionsOut)."""
    d, lab = v.decisions, v.labels
    top = None if d.top is None else {
        "model": lab.get(d.top.model, d.top.model), "probability": round(d.top.probability, 4),
        "closest": lab.get(d.top.closest, d.top.closest), "best_share": round(d.top.best_share, 4),
        "anytime": round(d.top.anytime, 4), "settled": d.top.settled}
    return {"criterion": v.criterion, "tag": v.tag, "threshold": d.threshold, "names_hidden": not v.named,
            "votes": v.votes, "top": top, "text": v.top_text,
        "pairs": [{"better": lab.get(p.better, p.better), "worse": lab.get(p.worse, p.worse),
                   "probability": None if p.probability is None else round(p.probability, 4),
                   "anytime": None if p.anytime is None else round(p.anytime, 4),
                   "settled": p.settled, "text": text} for p, text in zip(d.pairs, v.pair_texts)]}
