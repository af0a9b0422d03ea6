"""Jinja2 environment (autoescaping on) and the filters templates share."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from fastapi.templating import Jinja2Templates

from app.boards import CRITERIA, criteria_for
from app.settings import Settings

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


def make_templates(settings: Settings) -> Jinja2Templates:
    templates = Jinja2Templates(directory=ROOT / "templates")
    env = templates.env
    env.filters["money"] = money
    env.filters["ago"] = ago
    env.globals["STATUS_LABELS"] = STATUS_LABELS
    env.globals["CRITERIA"] = CRITERIA
    env.globals["criteria_for"] = criteria_for
    env.globals["settings"] = settings
    env.globals["tiles_for"] = lambda view: [t.as_player_tile() for t in view.ready_tiles]
    return templates
