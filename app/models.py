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
        return out


class Comparison(Base):
    __tablename__ = "comparisons"
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), index=True)
    prompt: Mapped[str] = mapped_column(Text)
    # ComparisonParams.to_json(); read it as `typed_params`
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_image: Mapped[str | None] = mapped_column(String(300))  # storage key
    created_by: Mapped[str | None] = mapped_column(ForeignKey("voters.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    board: Mapped[Board] = relationship(back_populates="comparisons")
    takes: Mapped[list[Take]] = relationship(
        back_populates="comparison", order_by="Take.created_at", cascade="all, delete-orphan"
    )

    @property
    def typed_params(self) -> ComparisonParams:
        return ComparisonParams.from_json(self.params or {})


class IdempotencyKey(Base):
    """`Idempotency-Key` of a `POST /api/comparisons`: the same key from the same actor within
    24 h answers with the comparison the first request made (app/web/comparisons.py)."""

    __tablename__ = "idempotency_keys"

    actor: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    comparison_id: Mapped[str] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

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
    # Who may work on the take (app/jobs/leases.py): a per-attempt token, or "queue" while its
    # next step waits in a queue; `step_seq` numbers those steps, so a stale job is a no-op.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    step_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The attempt that moved the take queued → submitting: only it may record the remote job.
    submit_token: Mapped[str | None] = mapped_column(String(64))
    # The job layer's counters between steps (polls, errors, submit tries, since when).
    job_state: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
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


BOARD_ROLES = ("viewer", "voter", "editor", "owner")  # each can do what the ones before it can


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("board_id", "user_id"),)
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
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
