"""Jinja2 environment (autoescaping on) and the filters templates share."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import jinja2
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup

from app.access import allows
from app.boards import CRITERIA, criteria_for
from app.settings import Settings
from app.web.fragments import fragment, keyed
from app.web.views import original_url, reference_url

ROOT = Path(__file__).resolve().parent.parent.parent
STATUS_LABELS = {
    "queued": "Queued", "submitting": "Submitting", "submitted": "Submitted", "running": "Generating",
    "downloading": "Downloading", "processing": "Processing", "ready": "Ready", "failed": "Failed",
    "cancelled": "Cancelled",
}


def money(v: float | None) -> str:
    if v is None:
        return "—"
    return "free" if v == 0 else f"${v:,.2f}"


def ago(dt: datetime | None) -> str:
    if dt is None:
        return ""
    s = (datetime.now(timezone.utc) - dt).total_seconds()
    for unit, n in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= n:
            return f"{int(s // n)} {unit} ago"
    return "just now"


def _request(ctx):
    return ctx.get("request")


@pass_context
def csrf_token(ctx) -> str:
    request = _request(ctx)
    return getattr(request.state, "csrf_token", "") if request is not None else ""


@pass_context
def csrf_input(ctx) -> Markup:
    """The hidden field every plain POST form carries (htmx sends the header instead)."""
    return Markup('<input type="hidden" name="csrf_token" value="%s">') % csrf_token(ctx)


@pass_context
def current_user(ctx):
    request = _request(ctx)
    return getattr(request.state, "user", None) if request is not None else None


@pass_context
def current_actor(ctx):
    request = _request(ctx)
    return getattr(request.state, "actor", None) if request is not None else None


def timecode(t: float | None) -> str:
    """00:02.5 — minutes, seconds and tenths, as shown beside a comment."""
    t = round(max(0.0, float(t or 0)), 1)
    m, sec = divmod(t, 60)
    return f"{int(m):02d}:{sec:04.1f}"


class CompiledTemplates(jinja2.BytecodeCache):
    """Compiled templates, kept in memory for the process and shared by its environments.

    Each app has its own environment (its `settings` global), so without this every app
    compiled every template it rendered again: about 60 ms of CPU for the first home page of
    each app the tests build. Jinja checks each entry against its template's source checksum,
    so an edited template is compiled afresh."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self.code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


COMPILED = CompiledTemplates()


def make_templates(settings: Settings) -> Jinja2Templates:
    templates = Jinja2Templates(env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROOT / "templates"), autoescape=jinja2.select_autoescape(),
        bytecode_cache=COMPILED))
    env = templates.env
    env.filters["money"] = money
    env.filters["ago"] = ago
    env.globals["STATUS_LABELS"] = STATUS_LABELS
    env.globals["CRITERIA"] = CRITERIA
    env.globals["criteria_for"] = criteria_for
    env.globals["settings"] = settings
    env.globals["original_url"] = original_url
    env.globals["can"] = allows  # can(role, "vote"): what a page offers its viewer
    env.globals["csrf_token"] = csrf_token
    env.globals["csrf_input"] = csrf_input
    env.globals["current_user"] = current_user
    env.globals["current_actor"] = current_actor
    env.filters["timecode"] = timecode
    env.globals["tiles_for"] = lambda view: [t.as_player_tile() for t in view.ready_tiles]
    env.globals["reference_tile"] = reference_tile
    env.globals["fragment"] = fragment   # rendered once per data object (app/web/fragments.py)
    env.globals["keyed"] = keyed         # rendered once per value shown (board cards)
    return templates


def reference_tile(c) -> dict | None:
    """The reference video's tile for the grid (templates/partials/reference_tile.html), or None."""
    if not c.reference_video:
        return None
    p = c.typed_params
    w, h = p.reference_size or (16, 9)
    return {"url": reference_url(c), "mime": p.reference_mime, "width": w, "height": h,
            "duration_s": p.reference_duration_s or 0.0}
