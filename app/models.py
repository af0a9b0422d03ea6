"""Tables. Ids are random strings (app.ids) so URLs reveal nothing about counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from app.ids import new_id


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Always timezone-aware UTC, whatever the backend returns (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


TERMINAL_STATES = ("ready", "failed", "cancelled")
TAKE_STATES = (
    "queued", "submitting", "submitted", "running", "downloading", "processing",
) + TERMINAL_STATES


class Voter(Base):
    """Whoever casts votes: an anonymous browser (signed cookie) or, later, a signed-in user."""

    __tablename__ = "voters"
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    display_name: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Board(Base):
    __tablename__ = "boards"
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(16), default="private")  # private | link | public
    blind: Mapped[bool] = mapped_column(Boolean, default=True)
    criteria: Mapped[list[Any]] = mapped_column(default=lambda: ["overall"])
    budget_usd: Mapped[float | None] = mapped_column(Float)
    archived_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The secret part of the share URL (/s/<token>) of a link-visibility board; rotating it
    # cuts off everyone who came in by the old link.
    link_token: Mapped[str | None] = mapped_column(String(40), unique=True, index=True)
    # Set on a user's own "My comparisons" board (comparisons sent without a board go there).
    personal_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True, index=True)

    comparisons: Mapped[list[Comparison]] = relationship(back_populates="board")


@dataclass
class ComparisonParams:
    """What a comparison asks of every model: the typed form of `Comparison.params`.

    The column stays JSON (`to_json` writes the shape rows have always had: optional fields
    only when set), so no migration; code reads `Comparison.typed_params`."""

    duration_s: float
    aspect_ratio: str = ""
    resolution: str = ""
    audio: bool = False
    durations: dict[str, float] = field(default_factory=dict)   # models asked for their own duration
    seed: int | None = None
    negative_prompt: str | None = None
    image_mime: str | None = None                 # the source image's type, when there is one
    image_size: tuple[int, int] | None = None     # its width × height
    # "Let providers rewrite my prompt": their rewriters (MiniMax prompt_optimizer, fal auto_fix /
    # enable_prompt_expansion) stay off unless this is set, so every model gets the same words.
    rewrite_prompt: bool = False
    # The reference video's type, length and frame size, when there is one (app/reference.py).
    reference_mime: str | None = None
    reference_duration_s: float | None = None
    reference_size: tuple[int, int] | None = None

    def duration_for(self, model_id: str) -> float:
        """The duration asked of one model: its own when the comparison set one, else the shared one."""
        return float(self.durations.get(model_id, self.duration_s))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ComparisonParams:
        size = data.get("image_size")
        return cls(
            duration_s=float(data.get("duration_s") or 0), aspect_ratio=data.get("aspect_ratio") or "",
            resolution=data.get("resolution") or "", audio=bool(data.get("audio")),
            durations={k: float(v) for k, v in (data.get("durations") or {}).items()},
            seed=data.get("seed"), negative_prompt=data.get("negative_prompt"), image_mime=data.get("image_mime"),
            image_size=(int(size[0]), int(size[1])) if size else None,
            rewrite_prompt=bool(data.get("rewrite_prompt")),
            reference_mime=data.get("reference_mime"), reference_duration_s=data.get("reference_duration_s"),
            reference_size=tuple(data["reference_size"]) if data.get("reference_size") else None,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"duration_s": self.duration_s, "aspect_ratio": self.aspect_ratio,
                               "resolution": self.resolution, "audio": self.audio}
        if self.durations:
            out["durations"] = dict(self.durations)
        if self.seed is not None:
            out["seed"] = self.seed
        if self.negative_prompt:
            out["negative_prompt"] = self.negative_prompt
        if self.image_mime:
            out["image_mime"] = self.image_mime
        if self.image_size:
            out["image_size"] = list(self.image_size)
        if self.rewrite_prompt:
            out["rewrite_prompt"] = True
        if self.reference_mime:
            out.update(reference_mime=self.reference_mime, reference_duration_s=self.reference_duration_s,
                       reference_size=list(self.reference_size or ()))
        return out


class Comparison(Base):
    __tablename__ = "comparisons"
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), index=True)
    prompt: Mapped[str] = mapped_column(Text)
    # ComparisonParams.to_json(); read it as `typed_params`
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_image: Mapped[str | None] = mapped_column(String(300))  # storage key
    # The reference video a motion-control model follows (Kling v3 Motion Control): storage key.
    reference_video: Mapped[str | None] = mapped_column(String(300))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("voters.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # The suite (app/suites.py) that made it, and its seed there (also in params["seed"]).
    suite_id: Mapped[str | None] = mapped_column(ForeignKey("suites.id", ondelete="SET NULL"), index=True)
    seed: Mapped[int | None] = mapped_column(Integer)
    # the secret of its read-only link /v/<token> (app/links.py); None: no link
    link_token: Mapped[str | None] = mapped_column(String(40), unique=True, index=True)

    board: Mapped[Board] = relationship(back_populates="comparisons")
    takes: Mapped[list[Take]] = relationship(
        back_populates="comparison", order_by="Take.created_at", cascade="all, delete-orphan"
    )

    @property
    def typed_params(self) -> ComparisonParams:
        return ComparisonParams.from_json(self.params or {})


SUITE_STATES = ("running", "paused", "cancelled", "done")


class Suite(Base):
    """A named run of many prompts × models (× seeds) into a board (app/suites.py): one
    comparison per prompt × seed. `status` is what a person asked for (running, paused,
    cancelled); "done" is written once every take of it has ended."""

    __tablename__ = "suites"
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("voters.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="running")
    seeds: Mapped[int] = mapped_column(Integer, default=1)
    models: Mapped[list[Any]] = mapped_column(default=list)
    prompts: Mapped[int] = mapped_column(Integer, default=0)
    # What the suite asked of every comparison (duration, aspect ratio, resolution, seed values …)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    board: Mapped[Board] = relationship()


class ComparisonTag(Base):
    """A tag on a comparison ("character walk"), from its suite or set by an editor
    (app/tags.py normalises them): the leaderboard and the comparison table filter on it."""

    __tablename__ = "comparison_tags"
    __table_args__ = (Index("ix_comparison_tags_tag", "tag"),)
    comparison_id: Mapped[str] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)


class _IdempotencyColumns:
    """The key of an `Idempotency-Key` row: who sent it, the key, and when (app/idempotency.py)."""

    actor: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SuiteIdempotencyKey(_IdempotencyColumns, Base):
    """`Idempotency-Key` of a `POST /api/suites`: as IdempotencyKey, for the suite it made."""

    __tablename__ = "suite_idempotency_keys"

    suite_id: Mapped[str] = mapped_column(ForeignKey("suites.id", ondelete="CASCADE"))

    suite: Mapped[Suite] = relationship()


class IdempotencyKey(_IdempotencyColumns, Base):
    """`Idempotency-Key` of a `POST /api/comparisons`: the same key from the same actor within
    24 h answers with the comparison the first request made (app/web/comparisons.py)."""

    __tablename__ = "idempotency_keys"

    comparison_id: Mapped[str] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"))

    comparison: Mapped[Comparison] = relationship()


class Take(Base):
    """One model's attempt at one comparison. The state machine is described in
    app/jobs/generate.py's docstring."""

    __tablename__ = "takes"
    __table_args__ = (UniqueConstraint("comparison_id", "model_id", "attempt"),)

    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    comparison_id: Mapped[str] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[str] = mapped_column(String(120), index=True)
    provider: Mapped[str] = mapped_column(String(40), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    remote_id: Mapped[str | None] = mapped_column(String(300))
    remote_meta: Mapped[dict[str, Any]] = mapped_column(default=dict)  # provider handles (status/result urls…)
    progress: Mapped[float | None] = mapped_column(Float)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    clip_key: Mapped[str | None] = mapped_column(String(300))    # original, untouched
    proxy_key: Mapped[str | None] = mapped_column(String(300))   # browser-safe, short GOP (if needed)
    poster_key: Mapped[str | None] = mapped_column(String(300))
    media_info: Mapped[dict[str, Any]] = mapped_column(default=dict)  # probe: codec, gop, bitrate…
    duration_s: Mapped[float | None] = mapped_column(Float)
    fps: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    has_audio: Mapped[bool | None] = mapped_column(Boolean)
    cost_estimate_usd: Mapped[float | None] = mapped_column(Float)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Delivered as asked (app/delivery.py): None until a clip is checked; False keeps the take
    # but marks it, with what differs in `delivery_notes` ("delivered 960×540 for 1080p").
    as_asked: Mapped[bool | None] = mapped_column(Boolean)
    delivery_notes: Mapped[list[Any]] = mapped_column(default=list)
    # The prompt the provider actually used, where it rewrote ours and says so (fal Wan's actual_prompt).
    rewritten_prompt: Mapped[str | None] = mapped_column(Text)
    # Take checks (app/take_checks.py): every figure in `checks`; mostly black or frozen flags
    # the take for the reviewer; three figures repeated as columns for the comparison table.
    checks: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    checks_flagged: Mapped[bool | None] = mapped_column(Boolean)
    motion: Mapped[float | None] = mapped_column(Float)
    sharpness: Mapped[float | None] = mapped_column(Float)
    hard_cuts: Mapped[int | None] = mapped_column(Integer)
    # What the provider reported the take cost (app/costs.py), beside the estimate, and the
    # usage it was computed from ({"credits": 40} from Runway, {"total_tokens": …} from Ark …).
    actual_cost_usd: Mapped[float | None] = mapped_column(Float)
    cost_usage: Mapped[dict[str, Any] | None] = mapped_column()
    # Who may work on the take (app/jobs/leases.py): a per-attempt token, or "queue" while its
    # next step waits in a queue; `step_seq` numbers those steps, so a stale job is a no-op.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    step_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The attempt that moved the take queued → submitting: only it may record the remote job.
    submit_token: Mapped[str | None] = mapped_column(String(64))
    # The job layer's counters between steps (polls, errors, submit tries, since when).
    job_state: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    # When a provider's webhook last said something about this take's job (app/hooks.py): the
    # next poll is pulled forward, and only that poll (a fetch from the provider) moves the take.
    hook_seen_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    comparison: Mapped[Comparison] = relationship(back_populates="takes")

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATES

    @property
    def generation_s(self) -> float | None:
        if self.submitted_at and self.finished_at and self.status == "ready":
            return (self.finished_at - self.submitted_at).total_seconds()
        return None


class Vote(Base):
    """One pairwise outcome. A ballot (a pair vote, a best-of-N pick or a ranking) is stored as
    its pairs, grouped by `ballot_id`, so the CSV and the ranking read one table without
    re-expanding, and "one vote per voter, comparison, criterion and pair" is a unique index.
    Voting again supersedes (never deletes) the earlier rows: the history is kept."""

    __tablename__ = "votes"
    __table_args__ = (
        Index(
            "uq_votes_active_pair",
            "voter_id", "comparison_id", "criterion", "pair_key",
            unique=True,
            sqlite_where=text("superseded_at IS NULL"),
            postgresql_where=text("superseded_at IS NULL"),
        ),
        Index("ix_votes_board_active", "board_id", "superseded_at"),
        # the board's latest vote in one index lookup: `next`'s cached fit checks it per call (app/active.py)
        Index("ix_votes_board_created", "board_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    ballot_id: Mapped[str] = mapped_column(String(24), index=True)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"))
    comparison_id: Mapped[str] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"), index=True)
    voter_id: Mapped[str] = mapped_column(ForeignKey("voters.id", ondelete="CASCADE"), index=True)
    criterion: Mapped[str] = mapped_column(String(40), default="overall")
    kind: Mapped[str] = mapped_column(String(16))  # pair | best | ranking
    take_a_id: Mapped[str] = mapped_column(ForeignKey("takes.id", ondelete="CASCADE"))
    take_b_id: Mapped[str] = mapped_column(ForeignKey("takes.id", ondelete="CASCADE"))
    model_a: Mapped[str] = mapped_column(String(120))
    model_b: Mapped[str] = mapped_column(String(120))
    winner: Mapped[str] = mapped_column(String(16))  # model_a | model_b | tie | tie (bothbad)
    pair_key: Mapped[str] = mapped_column(String(50))  # sorted take ids, for the uniqueness rule
    position_a: Mapped[int | None] = mapped_column(Integer)  # 0-based slot on the voter's screen
    position_b: Mapped[int | None] = mapped_column(Integer)
    blind: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    superseded_at: Mapped[datetime | None] = mapped_column()
    # How the pair came to be shown (app/picks.py): active | uniform (a `next` pick) | manual
    # (chosen by the reviewer) | same_ballot (another pair of a ballot whose picked pair it
    # carries); NULL for votes from before picks were recorded. The probability is the pick's,
    # under the whole mixed policy, on the picked pair's row only.
    sampled_by: Mapped[str | None] = mapped_column(String(16))
    sample_probability: Mapped[float | None] = mapped_column(Float)


class Pick(Base):
    """One pick `next` handed out (app/picks.py): kept server-side, so the probability a vote
    records is the server's, never a client's claim."""

    __tablename__ = "picks"
    __table_args__ = (Index("ix_picks_voter_comparison", "voter_id", "comparison_id"),)

    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"))
    voter_id: Mapped[str] = mapped_column(String(24))     # no FK: an anonymous voter's row is made on the first vote
    comparison_id: Mapped[str] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"))
    take_a_id: Mapped[str] = mapped_column(String(24))
    take_b_id: Mapped[str] = mapped_column(String(24))
    sampled_by: Mapped[str] = mapped_column(String(16))
    probability: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column()


class CheckItem(Base):
    """A comparison an editor marked as a check item: on `criterion`, `expected_take` is the
    right answer (app/reviewers.py scores reviewers' accuracy on these)."""

    __tablename__ = "check_items"
    __table_args__ = (UniqueConstraint("comparison_id", "criterion", name="uq_check_items_comparison_criterion"),)

    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), index=True)
    comparison_id: Mapped[str] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"))
    criterion: Mapped[str] = mapped_column(String(40), default="overall")
    expected_take_id: Mapped[str] = mapped_column(ForeignKey("takes.id", ondelete="CASCADE"))
    created_by: Mapped[str | None] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """An account. Votes and comments are cast through the user's Voter row, so anonymous
    reviewers and signed-in members share one path (and one CSV column)."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(80))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    voter_id: Mapped[str | None] = mapped_column(ForeignKey("voters.id", ondelete="SET NULL"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserSession(Base):
    """A signed-in browser. The id is the SHA-256 of the cookie value: a database leak does
    not hand out live sessions."""

    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class ApiToken(Base):
    """A personal API token for scripts (`Authorization: Bearer …`), stored as its SHA-256."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists so a token can be recognised
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class SavedSelection(Base):
    """A signed-in user's named set of models for the new-comparison form ("my usual four"),
    kept on the server so it follows the account to any browser (app/selections.py)."""

    __tablename__ = "saved_selections"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    models: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


BOARD_ROLES = ("viewer", "voter", "editor", "owner")  # each can do what the ones before it can


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("board_id", "user_id"),)
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    # an owner or editor watching the board: names, results and comments at once, votes stored
    # as not blind (app/blind.py)
    observer: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invite(Base):
    """An invite link (/invite/<token>) that makes whoever opens it (signed in) a member with
    `role`. Stored as the token's SHA-256: the link is shown once, when it is made."""

    __tablename__ = "invites"
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    uses: Mapped[int] = mapped_column(Integer, default=0)


class Comment(Base):
    """A reviewer's note on one take at one time code ("the hand melts at 2.5 s")."""

    __tablename__ = "comments"
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), index=True)
    comparison_id: Mapped[str] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"), index=True)
    take_id: Mapped[str] = mapped_column(ForeignKey("takes.id", ondelete="CASCADE"))
    voter_id: Mapped[str] = mapped_column(ForeignKey("voters.id", ondelete="CASCADE"))
    time_s: Mapped[float] = mapped_column(Float)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProviderHook(Base):
    """One accepted provider webhook delivery, kept so a replay of it is a no-op
    (app/hooks.py): the delivery's own id where the provider signs one, else a digest."""

    __tablename__ = "provider_hooks"
    __table_args__ = (UniqueConstraint("provider", "delivery_id"),)
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(String(40))
    delivery_id: Mapped[str] = mapped_column(String(200))
    take_id: Mapped[str] = mapped_column(ForeignKey("takes.id", ondelete="CASCADE"), index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class BoardWebhook(Base):
    """An outgoing webhook endpoint of a board (app/webhooks.py): where events go, signed
    with Standard Webhooks under `secret` (whsec_…), for the events it subscribes to."""

    __tablename__ = "board_webhooks"
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    events: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint: the outbox row a sweeper sends (with backoff) and the
    delivery log the board settings page shows. Its id is the Standard Webhooks message id."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("board_webhooks.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")   # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()


class VoteCount(Base):
    """How many active ballots of a board and criterion have each pattern: a ballot's pairs
    folded into one text key (app.vote_counts.pattern_key). Kept in each vote's own
    transaction (app.votes.write_votes), so a leaderboard reads a few hundred rows instead of
    folding a million votes. `blind` splits what the "blind votes only" view reads.

    Adding a tag dimension later (per-tag leaderboards) is one more key column, `tag`
    ('' = every vote), and write_votes adding each delta once per tag of the comparison."""

    __tablename__ = "vote_counts"
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), primary_key=True)
    criterion: Mapped[str] = mapped_column(String(40), primary_key=True)
    blind: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    pattern: Mapped[str] = mapped_column(Text, primary_key=True)
    ballots: Mapped[int] = mapped_column(Integer, default=0)


class BoardCache(Base):
    """Work a leaderboard keeps between processes (app/board_cache.py): the ranking fit of one
    scope (boards, criterion, blindness, tag) with the digest of the counts it was fitted on,
    and the take columns of a big board's comparison table with when they were counted. A
    fresh process reads these instead of refitting or rescanning the takes on its first page."""

    __tablename__ = "board_caches"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), default="")
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    made_at: Mapped[datetime] = mapped_column(default=utcnow)
