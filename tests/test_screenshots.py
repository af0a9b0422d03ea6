"""Issue 12's "done when": a screenshot of every main page at 1440×900 and at 390×844 in
docs/screenshots/ (made by docs/screenshots/make.py), and the README shows two of them."""

import re
import struct

from tests.support import ROOT
from tests.support.review import SIZES, main_pages, signed_out_pages

SHOTS = ROOT / "docs" / "screenshots"
WORLD = {"board": "b", "comparisons": {2: "x", 4: "y", 6: "z"}, "invite": "t", "suite": "s"}   # only the page names matter


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_every_main_page_has_both_screenshots():
    names = [*main_pages(WORLD), *signed_out_pages(WORLD)]
    missing, wrong = [], []
    for name in names:
        for width, height in SIZES:
            path = SHOTS / f"{name}-{width}.png"
            if not path.exists():
                missing.append(path.name)
            elif _png_size(path) != (width, height):
                wrong.append((path.name, _png_size(path)))
    assert missing == [] and wrong == []


def test_the_readme_shows_two_of_them():
    readme = (ROOT / "README.md").read_text()
    shown = re.findall(r"docs/screenshots/([\w-]+\.png)", readme)
    assert len(set(shown)) >= 2
    assert all((SHOTS / name).exists() for name in shown)
