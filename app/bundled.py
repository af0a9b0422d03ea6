"""Bundled suites: the VBench prompt lists (Apache-2.0; their licence and
origin in app/suites_data/vbench/LICENSE and app/suites_data/vbench/SOURCE.md), ready to run on private models without typing a shot list.

Per content category (8 × 100 prompts, tagged with the category), all categories together,
and the per-dimension list (946 prompts, each tagged with the VBench dimensions it tests:
`human_action` → "human action"). Read from the files on first use and kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from app.errors import NotFound

DATA = Path(__file__).parent / "suites_data" / "vbench"
SOURCE = "VBench (Vchitect/VBench, Apache-2.0): app/suites_data/vbench/SOURCE.md"
CATEGORIES = ("animal", "architecture", "food", "human", "lifestyle", "plant", "scenery", "vehicles")


@dataclass(frozen=True)
class BundledPrompt:
    prompt: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class BundledSuite:
    id: str
    name: str
    description: str
    prompts: tuple[BundledPrompt, ...]
    source: str = SOURCE
    licence: str = "Apache-2.0"

    @property
    def tags(self) -> list[str]:
        return sorted({t for p in self.prompts for t in p.tags})


def _category(name: str) -> tuple[BundledPrompt, ...]:
    lines = (DATA / "per_category" / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    return tuple(BundledPrompt(line.strip(), (name,)) for line in lines if line.strip())


def _dimensions() -> tuple[BundledPrompt, ...]:
    rows = json.loads((DATA / "VBench_full_info.json").read_text(encoding="utf-8"))
    return tuple(BundledPrompt(r["prompt_en"].strip(), tuple(d.replace("_", " ") for d in r["dimension"]))
                 for r in rows)


@cache
def bundled_suites() -> dict[str, BundledSuite]:
    """Every bundled suite by id, in the order the page lists them."""
    suites = [BundledSuite("vbench-dimensions", "VBench: per dimension",
                           "946 prompts, each tagged with the VBench dimensions it tests", _dimensions()),
              BundledSuite("vbench-categories", "VBench: all categories",
                           "800 prompts, 100 per content category, tagged with the category",
                           tuple(p for c in CATEGORIES for p in _category(c)))]
    suites += [BundledSuite(f"vbench-{c}", f"VBench: {c}", f"100 prompts of the category {c}", _category(c))
                for c in CATEGORIES]
    return {s.id: s for s in suites}


def bundled_suite(suite_id: str) -> BundledSuite:
    found = bundled_suites().get(suite_id)
    if found is None:
        raise NotFound(f"no bundled suite {suite_id!r}; known: {', '.join(bundled_suites())}")
    return found
