"""JSON shapes of decisions, reviewers and the report (app/verdicts.py, app/reviewers.py,
app/report.py), apart from schemas.py so the resource modules stay short."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.web.inputs import RequestIn


class TopDecisionOut(BaseModel):
    model: str = Field(description="The top-rated model (its name, or '#1' while names are hidden from you).")
    probability: float = Field(description="min over the others of P(it is better than them).")
    closest: str
    best_share: float = Field(description="Share of bootstrap rounds in which it is rated above all others at once.")
    anytime: float = Field(0.0, description="Least anytime-valid confidence over its pairs (see PairDecisionOut.anytime).")
    settled: bool


class PairDecisionOut(BaseModel):
    better: str
    worse: str
    probability: float | None = Field(None, description="P(better is better than worse); null if never compared.")
    anytime: float | None = Field(None, description="Confidence that better is better which stays valid however often "
                                                    "the board is looked at (docs/leaderboard.md §Decisions); "
                                                    "settled needs it ≥ threshold too.")
    settled: bool
    text: str


class DecisionsOut(BaseModel):
    criterion: str
    tag: str | None = None
    threshold: float = Field(description="Settled when P ≥ threshold (0.95) and anytime ≥ threshold.")
    names_hidden: bool = Field(description="True on a blind board while you still have comparisons to vote on: "
                                           "models are '#1', '#2' … in leaderboard order.")
    votes: int
    top: TopDecisionOut | None = None
    text: str = Field(description="The top model in words: 'the top model is settled — further votes will not change it: …'.")
    pairs: list[PairDecisionOut]


class AgreementOut(BaseModel):
    agreed: int
    units: int = Field(description="Pairs (comparison, criterion, takes) where the other reviewers have a strict majority.")
    rate: float | None = None


class ReviewerOut(BaseModel):
    voter: str
    name: str = Field(description="The reviewer's display name ('' if none was given).")
    voted: int = Field(description="Comparisons voted on.")
    total: int = Field(description="Comparisons that can be voted on (two or more ready takes).")
    agreement: dict[str, AgreementOut] = Field(description="Per criterion: agreement with the others' majority.")
    agreement_rate: float | None = None
    left_share: float | None = Field(None, description="Share of decisive votes won by the take shown left.")
    side_votes: int
    side_p: float | None = Field(None, description="Two-sided binomial p-value of left_share against ½.")
    check_right: int
    check_answered: int
    check_accuracy: float | None = None
    flagged: bool = Field(description="The votes look random: see `flags` for why.")
    flags: list[str]


class ReviewersOut(BaseModel):
    board: str
    total: int
    check_items: int
    alpha: dict[str, float | None] = Field(description="Per criterion: nominal Krippendorff's α over pairs judged "
                                                       "by two or more reviewers (null: not computable).")
    alpha_units: dict[str, int]
    reviewers: list[ReviewerOut]


class CheckItemIn(RequestIn):
    """Mark a comparison as a check item on a criterion; null removes the mark."""

    expected_take: str | None = Field(description="The take that should win (its id); null: not a check item.",
                                      max_length=24)


class CheckItemOut(BaseModel):
    comparison: str
    criterion: str
    expected_take: str | None = None
