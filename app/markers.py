"""Downloads of a comparison for the edit suite: every take in one ZIP, streamed, and the team's
comments as a CSV and as editor markers on each take — an EDL (CMX3600, markers as one-frame
events with a `|M:` note, the form DaVinci Resolve exports and reads) and a Final Cut Pro 7
XML (xmeml v5) with a `<marker>` per comment, which Premiere Pro and Resolve import too.

Plain functions over plain values; which takes and comments a viewer gets, and what their files
are called, is decided before (app/web/downloads.py asks app.blind).
"""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from app.exports import BOM, safe_cell

NTSC = {23.976: 24, 29.97: 30, 59.94: 60}
CONTROL = re.compile(r"[\x00-\x1f\x7f|]+")   # EDL lines are single lines; `|` separates fields


@dataclass(frozen=True)
class Marker:
    time_s: float
    author: str
    body: str

    @property
    def text(self) -> str:
        return f"{self.author}: {self.body}"


def timebase(fps: float | None) -> tuple[int, bool]:
    """(integer timebase, NTSC) for a frame rate: 23.976 → (24, True), 25 → (25, False)."""
    fps = fps or 24.0
    for rate, base in NTSC.items():
        if abs(fps - rate) < 0.01:
            return base, True
    return max(1, round(fps)), False


def frames(seconds: float, fps: float | None) -> int:
    base, ntsc = timebase(fps)
    real = base * 1000 / 1001 if ntsc else base
    return max(0, int(round(seconds * real)))


def timecode(frame: int, fps: float | None) -> str:
    """Non-drop-frame HH:MM:SS:FF of a frame count."""
    base, _ = timebase(fps)
    ff = frame % base
    secs = frame // base
    return f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}:{ff:02d}"


def edl(title: str, clip_name: str, fps: float | None, markers: Iterable[Marker]) -> str:
    """A CMX3600 EDL with one one-frame event per marker, at the marker's time on both the
    source and the record side (the clip laid at 00:00:00:00)."""
    lines = [f"TITLE: {CONTROL.sub(' ', title)[:70]}", "FCM: NON-DROP FRAME", ""]
    for n, m in enumerate(markers, 1):
        start = frames(m.time_s, fps)
        a, b = timecode(start, fps), timecode(start + 1, fps)
        lines += [f"{n:03d}  AX       V     C        {a} {b} {a} {b}",
                  f"* FROM CLIP NAME: {CONTROL.sub(' ', clip_name)}",
                  f" |C:ResolveColorBlue |M:{CONTROL.sub(' ', m.text).strip()} |D:1", ""]
    return "\r\n".join(lines) + "\r\n"


def _rate(parent: ET.Element, fps: float | None) -> None:
    base, ntsc = timebase(fps)
    rate = ET.SubElement(parent, "rate")
    ET.SubElement(rate, "timebase").text = str(base)
    ET.SubElement(rate, "ntsc").text = "TRUE" if ntsc else "FALSE"


def _marker(parent: ET.Element, m: Marker, fps: float | None) -> None:
    el = ET.SubElement(parent, "marker")
    ET.SubElement(el, "name").text = m.author
    ET.SubElement(el, "comment").text = m.body
    ET.SubElement(el, "in").text = str(frames(m.time_s, fps))
    ET.SubElement(el, "out").text = "-1"


def fcp_xml(title: str, clip_name: str, fps: float | None, duration_s: float, width: int | None,
            height: int | None, markers: Iterable[Marker]) -> str:
    """Final Cut Pro 7 XML (xmeml v5): a sequence holding the take as one clip item, each
    comment a marker on the sequence and on the clip."""
    markers = list(markers)
    total = frames(duration_s, fps)
    root = ET.Element("xmeml", version="5")
    seq = ET.SubElement(root, "sequence", id="sequence-1")
    ET.SubElement(seq, "name").text = title
    ET.SubElement(seq, "duration").text = str(total)
    _rate(seq, fps)
    for m in markers:
        _marker(seq, m, fps)
    track = ET.SubElement(ET.SubElement(ET.SubElement(seq, "media"), "video"), "track")
    item = ET.SubElement(track, "clipitem", id="clipitem-1")
    ET.SubElement(item, "name").text = clip_name
    ET.SubElement(item, "duration").text = str(total)
    _rate(item, fps)
    for tag, value in (("start", 0), ("end", total), ("in", 0), ("out", total)):
        ET.SubElement(item, tag).text = str(value)
    f = ET.SubElement(item, "file", id="file-1")
    ET.SubElement(f, "name").text = clip_name
    ET.SubElement(f, "pathurl").text = clip_name
    _rate(f, fps)
    ET.SubElement(f, "duration").text = str(total)
    chars = ET.SubElement(ET.SubElement(ET.SubElement(f, "media"), "video"), "samplecharacteristics")
    ET.SubElement(chars, "width").text = str(width or 0)
    ET.SubElement(chars, "height").text = str(height or 0)
    for m in markers:
        _marker(item, m, fps)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n' + ET.tostring(root, encoding="unicode") + "\n"


COMMENT_COLUMNS = ["comparison_id", "take", "model", "time_s", "timecode", "author", "comment", "created_at"]


def comments_csv(rows: Iterable[list], raw: bool = False) -> str:
    """The comments CSV (with a BOM, like the vote exports); text cells formula-neutralised
    (app.exports.safe_cell) unless `raw`."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COMMENT_COLUMNS)
    for row in rows:
        w.writerow([cell if raw or not isinstance(cell, str) else safe_cell(cell) for cell in row])
    return BOM + buf.getvalue()


class _Sink:
    """A write-only file for zipfile: it buffers what was written until the stream takes it.
    zipfile sees no seek/tell and writes data descriptors after each member instead."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def zip_stream(files: Iterable[tuple[str, Path]], chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
    """A ZIP of `files` ((name in the archive, path)), produced piece by piece as it is read:
    no more than about one chunk in memory, whatever the takes weigh. Stored, not deflated:
    video is compressed already. Iterate it in a thread (file reads block)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, path in files:
            st = path.stat()
            info = zipfile.ZipInfo(name, date_time=time.gmtime(st.st_mtime)[:6])
            info.compress_type, info.file_size = zipfile.ZIP_STORED, st.st_size
            with zf.open(info, "w") as dest, path.open("rb") as src:
                while block := src.read(chunk_bytes):
                    dest.write(block)
                    if out := sink.take():
                        yield out
            if out := sink.take():
                yield out
    if out := sink.take():
        yield out
