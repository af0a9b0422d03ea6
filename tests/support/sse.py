"""Reading a text/event-stream body in tests."""

from __future__ import annotations

import json


def parse_sse(text: str) -> list[tuple[str, dict]]:
    """(event, data) of every event in a text/event-stream body (comments and retry skipped)."""
    out = []
    for block in text.split("\n\n"):
        lines = [ln for ln in block.split("\n") if ln and not ln.startswith(":")]
        fields = dict(ln.split(": ", 1) for ln in lines if ": " in ln)
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"])))
    return out
