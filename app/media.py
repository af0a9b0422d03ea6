"""Probe, poster and browser-safe proxy for every stored clip (PyAV).

Providers return mixed codecs, frame rates and GOP structures. Debian's Chromium cannot
play HEVC, and a clip whose keyframes are seconds apart seeks slowly (at 720p, measured
seek p50: 62 ms at a 12-frame GOP, 448 ms with one 250-frame GOP),
so a clip that is not H.264/VP9/AV1 in yuv420p, is not in a container browsers play (MP4/MOV
or WebM: not Matroska, AVI, MPEG-TS …), lacks faststart, or has a GOP longer than one second
gets an H.264/AAC proxy with faststart and a half-second GOP. The original is kept untouched
for download, under its real extension and MIME type (`file_type`). Frame rate stays native: resampling would change the motion
people are judging.
"""

from __future__ import annotations

import os
import threading

import struct
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

BROWSER_CODECS = {"h264", "vp9", "av1", "vp8"}
BROWSER_PIX_FMTS = {"yuv420p", "yuvj420p"}
MAX_GOP_S = 1.0

# What probe's `file_type` can say → (download extension, MIME type, name in messages).
FILE_TYPES = {
    "mp4": ("mp4", "video/mp4", "MP4"),
    "mov": ("mov", "video/quicktime", "QuickTime MOV"),
    "webm": ("webm", "video/webm", "WebM"),
    "matroska": ("mkv", "video/x-matroska", "Matroska"),
    "avi": ("avi", "video/x-msvideo", "AVI"),
    "mpegts": ("ts", "video/mp2t", "MPEG-TS"),
    "flv": ("flv", "video/x-flv", "FLV"),
    "ogg": ("ogv", "video/ogg", "Ogg"),
}
# Containers a browser's <video> plays: the ISO-BMFF family (with faststart, checked apart) and WebM.
BROWSER_CONTAINERS = {"mp4", "mov", "webm"}
WEBM_CODECS = {"vp8", "vp9", "av1"}


def _moov_before_mdat(path: Path) -> bool | None:
    """True when the MP4 index (moov) precedes the media (mdat): playback can start at once."""
    try:
        with path.open("rb") as fh:
            while True:
                header = fh.read(8)
                if len(header) < 8:
                    return None
                size, kind = struct.unpack(">I4s", header)
                if size == 1:
                    size = struct.unpack(">Q", fh.read(8))[0]
                    body = size - 16
                else:
                    body = size - 8
                if kind == b"moov":
                    return True
                if kind == b"mdat":
                    return False
                if size == 0:
                    return None
                fh.seek(body, 1)
    except (OSError, struct.error):
        return None


def _head(path: Path, size: int) -> bytes:
    """The first `size` bytes of a file (b"" when it cannot be read)."""
    try:
        with path.open("rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


def _ebml_doctype(path: Path) -> str | None:
    """The DocType of a Matroska-family file's EBML header: "webm" or "matroska"."""
    head = _head(path, 64)
    i = head.find(b"\x42\x82")
    if not head.startswith(b"\x1a\x45\xdf\xa3") or i < 0 or i + 3 > len(head) or not head[i + 2] & 0x80:
        return None
    n = head[i + 2] & 0x7F
    return head[i + 3:i + 3 + n].decode("ascii", "replace").rstrip("\x00") or None


def _ftyp_brand(path: Path) -> bytes | None:
    head = _head(path, 12)
    return head[8:12] if head[4:8] == b"ftyp" else None


def _file_type(fmt: str, codec: str | None, path: Path | None = None) -> str:
    """What the file is, as a key of FILE_TYPES when known. Demuxer names group families
    ("mov,mp4,…", "matroska,webm"); with the file at hand they are told apart by its ftyp brand
    and EBML DocType, without it (old probes) by the codec."""
    if "mp4" in fmt or "mov" in fmt:
        return "mov" if path is not None and _ftyp_brand(path) == b"qt  " else "mp4"
    if "matroska" in fmt or "webm" in fmt:
        doctype = _ebml_doctype(path) if path is not None else None
        if doctype in ("webm", "matroska"):
            return doctype
        return "webm" if codec in WEBM_CODECS else "matroska"
    return fmt.split(",")[0]


def _kind(info: dict[str, Any]) -> str:
    """probe's `file_type`; probes from before it existed fall back on the demuxer name."""
    return info.get("file_type") or _file_type(info.get("container") or "mp4", info.get("codec"))


def file_type(info: dict[str, Any] | None) -> tuple[str, str]:
    """(extension, MIME type) of a probed file, for downloading the original as what it is."""
    kind = _kind(info or {})
    if kind in FILE_TYPES:
        ext, mime, _ = FILE_TYPES[kind]
        return ext, mime
    ext = "".join(ch for ch in kind.lower() if ch.isalnum())[:8] or "bin"
    return ext, "application/octet-stream"


def probe(path: Path) -> dict[str, Any]:
    """Codec, frame rate, duration, size, audio and keyframe interval (demux only: fast)."""
    with av.open(str(path)) as c:
        v = next((s for s in c.streams if s.type == "video"), None)
        a = next((s for s in c.streams if s.type == "audio"), None)
        if v is None:
            raise ValueError("the file has no video stream")
        fps = float(v.average_rate or v.guessed_rate or 0) or None
        key_times: list[float] = []
        last_t = 0.0
        n_packets = 0
        for packet in c.demux(v):
            if packet.pts is None or packet.size == 0:
                continue
            n_packets += 1
            t = float(packet.pts * v.time_base)
            last_t = max(last_t, t)
            if packet.is_keyframe:
                key_times.append(t)
        duration = float(c.duration / av.time_base) if c.duration else None
        if fps and n_packets:
            duration = duration or (n_packets / fps)
        gops = np.diff(key_times + [last_t + (1 / fps if fps else 0)]) if key_times else np.array([])
        fmt = c.format.name
        info = {
            "container": fmt,
            "file_type": _file_type(fmt, v.codec_context.name, path),
            "codec": v.codec_context.name,
            "profile": v.codec_context.profile,
            "pix_fmt": v.codec_context.pix_fmt,
            "width": v.codec_context.width,
            "height": v.codec_context.height,
            "fps": round(fps, 3) if fps else None,
            "frames": n_packets,
            "duration_s": round(duration, 3) if duration else None,
            "has_audio": a is not None,
            "audio_codec": a.codec_context.name if a is not None else None,
            "gop_max_s": round(float(gops.max()), 3) if len(gops) else None,
            "keyframes": len(key_times),
            "bit_rate": c.bit_rate,
            "faststart": _moov_before_mdat(path) if "mp4" in fmt or "mov" in fmt else None,
        }
    return info


def proxy_reasons(info: dict[str, Any]) -> list[str]:
    """Why a clip needs a proxy; empty when the original is fine to play and seek."""
    reasons = []
    kind = _kind(info)
    if kind not in BROWSER_CONTAINERS:
        name = FILE_TYPES[kind][2] if kind in FILE_TYPES else kind
        reasons.append(f"container is {name}, not MP4/WebM")
    elif kind == "webm" and info["codec"] not in WEBM_CODECS:
        reasons.append(f"codec {info['codec']} in WebM")
    if info["codec"] not in BROWSER_CODECS:
        reasons.append(f"codec {info['codec']} is not browser-safe")
    if info["pix_fmt"] not in BROWSER_PIX_FMTS:
        reasons.append(f"pixel format {info['pix_fmt']}")
    if info.get("faststart") is False:
        reasons.append("no faststart")
    if info.get("gop_max_s") and info["gop_max_s"] > MAX_GOP_S + 1e-6:
        reasons.append(f"keyframes {info['gop_max_s']:.2f} s apart")
    if info.get("has_audio") and info.get("audio_codec") not in ("aac", "opus", "mp3", "vorbis"):
        reasons.append(f"audio codec {info.get('audio_codec')}")
    return reasons


def make_proxy(src: Path, dest: Path, info: dict[str, Any], max_width: int = 1920) -> Path:
    """H.264 yuv420p + AAC, native fps, GOP of half a second, faststart."""
    fps = info.get("fps") or 24
    rate = Fraction(fps).limit_denominator(1001)
    gop = max(1, round(fps / 2))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.stem}.{os.getpid()}-{threading.get_ident()}.tmp.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w", options={"movflags": "faststart"}) as out:
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        w, h = info["width"], info["height"]
        if w > max_width:
            h = int(round(h * max_width / w / 2)) * 2
            w = max_width
        w, h = w - w % 2, h - h % 2
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height, vout.pix_fmt = w, h, "yuv420p"
        vout.codec_context.gop_size = gop
        vout.options = {"preset": "veryfast", "crf": "20", "sc_threshold": "0", "keyint_min": str(gop)}
        aout = resampler = None
        if ain is not None:
            aout = out.add_stream("aac", rate=48000)
            aout.layout = "stereo"
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
        streams = [vin] + ([ain] if ain is not None else [])
        i = 0
        for packet in inp.demux(*streams):
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    f = frame.reformat(width=w, height=h, format="yuv420p")
                    f.pts = i
                    f.time_base = 1 / rate
                    i += 1
                    for p in vout.encode(f):
                        out.mux(p)
                else:
                    frame.pts = None
                    for rf in resampler.resample(frame):
                        for p in aout.encode(rf):
                            out.mux(p)
        for p in vout.encode():
            out.mux(p)
        if aout is not None:
            for p in aout.encode():
                out.mux(p)
    tmp.replace(dest)
    return dest


def make_poster(src: Path, dest: Path, max_width: int = 640, search_s: float = 3.0) -> Path:
    """JPEG of the first frame that is not (nearly) black, within the first seconds."""
    chosen = None
    with av.open(str(src)) as c:
        v = c.streams.video[0]
        for frame in c.decode(v):
            t = float(frame.time or 0.0)
            luma = frame.to_ndarray(format="gray")
            if chosen is None:
                chosen = frame
            # "Not black": some real picture content, even in a dark scene (bright detail on black).
            if float((luma > 48).mean()) > 0.005 and float(luma.std()) > 4:
                chosen = frame
                break
            if t > search_s:
                break
    if chosen is None:
        raise ValueError("the clip has no decodable frames")
    img = chosen.to_image()
    if img.width > max_width:
        img = img.resize((max_width, int(round(img.height * max_width / img.width))))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    img.save(tmp, format="JPEG", quality=85)
    tmp.replace(dest)
    return dest
