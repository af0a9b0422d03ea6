"""A suite's prompts as people write them — pasted lines, a CSV, JSON Lines, or the JSON API —
read into one list of rows, each knowing where it came from ("line 7"), so every problem is
reported with its line and a bad line refuses the whole suite before anything is written.

Formats (docs/suites.md):
- pasted: one prompt per line, optionally `prompt | tag1, tag2`; blank lines and lines that
  start with `#` are skipped;
- CSV with a header row, columns `prompt, tags, negative_prompt, duration_s, aspect_ratio,
  resolution, seed` (only `prompt` is required; `tags` is comma-separated in its cell);
- JSON Lines: one object a line with the same keys (`tags` a list or a comma-separated text).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from app.errors import InputError
from app.tags import normalise_tags, split_tags

COLUMNS = ("prompt", "tags", "negative_prompt", "duration_s", "aspect_ratio", "resolution", "seed")
MAX_SUITE_PROMPTS = 1000


@dataclass
class PromptRow:
    """One prompt of a suite; `None` fields take the suite's value."""

    where: str                      # "line 7" (pasted, CSV, JSONL) or "prompt 7" (API)
    prompt: str
    tags: list[str] = field(default_factory=list)
    negative_prompt: str | None = None
    duration_s: float | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    seed: int | None = None
    image: bytes | None = None
    audio: bool | None = None
    rewrite_prompt: bool | None = None
    problems: list[str] = field(default_factory=list)   # found while reading it ("line 3: …")


def problems_of(rows: list[PromptRow]) -> list[str]:
    return [p for r in rows for p in r.problems]


def _too_many(n: int) -> None:
    if n > MAX_SUITE_PROMPTS:
        raise InputError(f"the suite has {n} prompts; the limit is {MAX_SUITE_PROMPTS} per suite")


def parse_pasted(text: str) -> list[PromptRow]:
    """`prompt | tag1, tag2` lines; a line's problems stay on its row (`problems`), so that
    the plan reports every line's, each with its number."""
    rows = []
    for n, line in enumerate((text or "").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        prompt, _, tags = line.partition("|")
        row = PromptRow(f"line {n}", prompt.strip())
        try:
            row.tags = split_tags(tags)
        except InputError as exc:
            row.problems = [f"line {n}: {e}" for e in exc.errors]
        rows.append(row)
    _too_many(len(rows))
    return rows


def _number(where: str, key: str, value, kind, errors: list[str]):
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or (kind is int and isinstance(value, float)):
        errors.append(f"{where}: {key} {value!r} is not a whole number" if kind is int else
                      f"{where}: {key} {value!r} is not a number")
        return None
    try:
        return kind(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        what = "a whole number" if kind is int else "a number"
        errors.append(f"{where}: {key} {value!r} is not {what}")
        return None


def _text(where: str, key: str, value, errors: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(f"{where}: {key} must be text")
        return None
    return value.strip() or None


def row_from_mapping(where: str, data: dict) -> PromptRow:
    """A CSV record or a JSONL object as a row, its problems in `problems`."""
    errors: list[str] = []
    unknown = [k for k in data if k not in COLUMNS]
    if unknown:
        return PromptRow(where, "", problems=[f"{where}: unknown column {unknown[0]!r}; known: {', '.join(COLUMNS)}"])
    tags_value = data.get("tags")
    tags: list[str] = []
    try:
        if isinstance(tags_value, list):
            tags = normalise_tags(tags_value)
        elif tags_value is not None:
            tags = split_tags(_text(where, "tags", tags_value, errors) or "")
    except InputError as exc:
        errors += [f"{where}: {e}" for e in exc.errors]
    row = PromptRow(where, _text(where, "prompt", data.get("prompt"), errors) or "", tags,
                    negative_prompt=_text(where, "negative_prompt", data.get("negative_prompt"), errors),
                    duration_s=_number(where, "duration_s", data.get("duration_s"), float, errors),
                    aspect_ratio=_text(where, "aspect_ratio", data.get("aspect_ratio"), errors),
                    resolution=_text(where, "resolution", data.get("resolution"), errors),
                    seed=_number(where, "seed", data.get("seed"), int, errors))
    row.problems = errors
    return row


def parse_csv(text: str) -> list[PromptRow]:
    """A CSV with a header row naming its columns (any order; only `prompt` required)."""
    reader = csv.DictReader(io.StringIO((text or "").lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "prompt" not in header:
        raise InputError("line 1: the CSV needs a header row with a `prompt` column "
                         f"(columns: {', '.join(COLUMNS)})")
    reader.fieldnames = header
    rows = []
    try:
        for record in reader:
            where = f"line {reader.line_num}"
            if None in record:
                rows.append(PromptRow(where, "", problems=[f"{where}: more cells than the header has columns"]))
            elif any((v or "").strip() for v in record.values()):
                rows.append(row_from_mapping(where, record))
    except csv.Error as exc:
        raise InputError(f"line {reader.line_num}: not valid CSV ({exc})") from None
    _too_many(len(rows))
    return rows


def parse_jsonl(text: str) -> list[PromptRow]:
    """One JSON object a line (blank lines skipped)."""
    rows = []
    for n, line in enumerate((text or "").lstrip("\ufeff").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            rows.append(PromptRow(f"line {n}", "", problems=[
                f"line {n}: not valid JSON ({exc.args[0] if exc.args else exc})"]))
            continue
        if not isinstance(data, dict):
            rows.append(PromptRow(f"line {n}", "", problems=[
                f"line {n}: expected a JSON object such as {{\"prompt\": \"…\", \"tags\": [\"…\"]}}"]))
            continue
        rows.append(row_from_mapping(f"line {n}", data))
    _too_many(len(rows))
    return rows


def parse_upload(filename: str, text: str) -> list[PromptRow]:
    """An uploaded file, by its name: `.jsonl` / `.ndjson` as JSON Lines, anything else as CSV."""
    name = (filename or "").lower()
    return parse_jsonl(text) if name.endswith((".jsonl", ".ndjson")) else parse_csv(text)
