"""Clip serving (issue 15): a 20 MB clip from `/media/takes/{id}/video.mp4`, full GETs and random
1 MiB Range reads at 64 connections, against nginx serving the same file in the same run.

    .venv/bin/python bench/media.py                           # 10 s per cell, 3 runs
    .venv/bin/python bench/media.py --duration 2 --runs 1     # smoke run

Needs wrk and nginx (`apt-get install wrk nginx`; the script starts its own nginx, never the
system's service).

The clip: --size bytes (20,000,000) of random data behind an MP4 `ftyp` box, the `clip_key` of
every take of one seeded comparison (no proxy, so video.mp4 serves it as it is); the server
reads bytes, it does not parse them. Database: PostgreSQL (takes_bench_media on
BENCH_POSTGRES_URL's server, dropped afterwards), or SQLite with --db sqlite. Open mode.

Target: `takes serve` of this checkout. Anchor: nginx (Debian's), started here with its own
config on a loopback port: `worker_processes 1`, sendfile on, access_log off, root = the same
media directory, so both serve the same inode. Before the runs both are checked to answer the
file's exact bytes (200 for a GET, 206 with the asked slice for a Range).

Per run and mode, wrk (--conns connections, --duration s, 30 s timeout) against Takes, then
nginx (order swapped every other run). Printed: MB/s (every byte wrk received), req/s (answers completed), p50, p99 (marked * where
fewer than 2 × --conns answers completed in the cell), server CPU per MB sent
(/proc/<pid>/stat; nginx: master + worker; per MB, since a full GET may not complete in a
short cell), the ratio Takes / nginx of MB/s per run and its
median, errors; wrk's ceiling against a trivial server first. The last line is JSON.
Exit status 0 when no request failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load  # noqa: E402

DB = "takes_bench_media"
KEY = "takes/benchclip/clip.mp4"
MIB = 1 << 20

NGINX_CONF = """worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    types {{ video/mp4 mp4; }}
    default_type application/octet-stream;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def make_clip(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    with path.open("wb") as f:
        f.write(head)
        left = size - len(head)
        while left > 0:
            chunk = os.urandom(min(left, 4 * MIB))
            f.write(chunk)
            left -= len(chunk)


def nginx(root: Path, workdir: Path) -> tuple[_load.Proc, str]:
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(exe).exists():
        raise SystemExit("nginx is not installed (apt-get install nginx)")
    port = _load.free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=workdir, port=port, root=root))
    proc = _load.Proc([exe, "-c", str(conf), "-p", str(workdir)], name="nginx")
    base = f"http://127.0.0.1:{port}"
    _load.wait_http(base + "/", proc.proc, timeout=20)
    return proc, base


def front(workdir: Path, upstream: str, media: Path) -> tuple[_load.Proc, str]:
    """nginx with deploy/nginx.conf (the compose file's proxy) in front of `upstream`, a
    `takes serve` with MEDIA_ACCEL_REDIRECT=/_media/: the app checks access, nginx sends."""
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    port = _load.free_port()
    site = (_load.ROOT / "deploy" / "nginx.conf").read_text()
    site = site.replace("server web:8000;", f"server {upstream};").replace("listen 8000;", f"listen 127.0.0.1:{port};")
    (workdir / "site.conf").write_text(site.replace("alias /data/media/;", f"alias {media}/;"))
    main = NGINX_CONF.format(dir=workdir, port=port, root=media)
    main = main[:main.index("    server {{".replace("{{", "{"))] + f"    include {workdir}/site.conf;\n}}\n"
    (workdir / "nginx.conf").write_text(main)
    proc = _load.Proc([exe, "-c", str(workdir / "nginx.conf"), "-p", str(workdir)], name="nginx-front")
    base = f"http://127.0.0.1:{port}"
    _load.wait_http(base + "/api/models", proc.proc, timeout=20)
    return proc, base


def check_bytes(url: str, clip: Path) -> None:
    """The server answers the clip's exact bytes, whole and as a Range slice."""
    import httpx

    data = clip.read_bytes()
    r = httpx.get(url, timeout=60)
    if r.status_code != 200 or hashlib.sha256(r.content).digest() != hashlib.sha256(data).digest():
        raise SystemExit(f"{url}: GET answered {r.status_code} with {len(r.content):,} bytes, not the clip")
    start = len(data) // 3
    r = httpx.get(url, headers={"Range": f"bytes={start}-{start + MIB - 1}"}, timeout=60)
    if r.status_code != 206 or r.content != data[start:start + MIB]:
        raise SystemExit(f"{url}: Range answered {r.status_code} with {len(r.content):,} bytes, not the slice")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10, help="seconds per cell (default 10)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--size", type=int, default=20_000_000, help="clip size in bytes (default 20,000,000)")
    ap.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--accel", action="store_true",
                    help="Takes behind nginx with deploy/nginx.conf and MEDIA_ACCEL_REDIRECT (the compose setup)")
    args = ap.parse_args()

    print(f"loadavg before: {_load.loadavg()}", flush=True)
    ceiling = _load.client_ceilings(args.conns, wrk_threads=args.wrk_threads)["wrk_req_s"]
    print(f"client ceiling: wrk -t{args.wrk_threads} -c{args.conns} against a trivial server: {ceiling:,.0f} req/s",
          flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-media-") as tmp:
        tmp = Path(tmp)
        tmp.chmod(0o755)   # nginx's worker runs as nobody: it must reach the clip
        media = tmp / "media"
        clip = media / KEY
        make_clip(clip, args.size)
        url = _load.fresh_database(args.db, DB, tmp)
        board = _load.seed(url, "media", 1, clip_key=KEY)
        take = board.takes[board.comparisons[0]][0]
        server = anchor = None
        try:
            server, base = _load.takes_serve(url, media, extra_env={"MEDIA_ACCEL_REDIRECT": "/_media/"}
                                             if args.accel else None)
            (tmp / "nginx").mkdir()
            anchor, nginx_base = nginx(media, tmp / "nginx")
            if args.accel:   # measured through the proxy; its CPU counts with the app's
                (tmp / "front").mkdir()
                proxy, base = front(tmp / "front", base.removeprefix("http://"), media)
                server = _load.Group(server, proxy)
            takes_url, nginx_url = f"{base}/media/takes/{take}/video.mp4", f"{nginx_base}/{KEY}"
            for u in (takes_url, nginx_url):
                check_bytes(u, clip)
            for mode, rng in (("full GET", 0), ("1 MiB Range", MIB)):
                cell = lambda u, proc: (lambda: _load.wrk(  # noqa: E731
                    u, conns=args.conns, seconds=args.duration, threads=args.wrk_threads, range_bytes=rng,
                    file_size=args.size, server=proc))
                t, a = _load.interleave(args.runs, cell(takes_url, server), cell(nginx_url, anchor))
                ratio, ratios = _load.median_ratio([c.mb_s for c in t], [c.mb_s for c in a])
                rows.append({"mode": mode, "takes": t, "nginx": a, "ratio": ratio, "ratios": ratios})
                print(f"{mode}: Takes {_load.each(t, 'mb_s')} MB/s, nginx {_load.each(a, 'mb_s')} MB/s, "
                      f"ratio {ratio:.3f}, errors {sum(c.errors for c in t + a)}", flush=True)
        finally:
            for p in (anchor, server):
                if p:
                    p.stop()
            _load.drop_database(args.db, DB)

    print()
    print(f"{args.size:,}-byte clip, {args.conns} connections, {args.duration:g} s per cell, {args.runs} runs "
          "(median; per run)" + (", Takes behind nginx with X-Accel-Redirect" if args.accel else ""))
    out = []
    for r in rows:
        for side in ("takes", "nginx"):
            c = r[side]
            out.append([f"{r['mode']}, {'Takes' if side == 'takes' else 'nginx'}",
                        f"{_load.fmt(_load.med(c, 'mb_s'), 0)} ({_load.each(c, 'mb_s')})",
                        _load.fmt(_load.med(c, "rate")), _load.latency(c, "p50_ms", args.conns),
                        _load.latency(c, "p99_ms", args.conns), _load.fmt(_load.med(c, "cpu_ms_per_mb"), 2),
                        sum(x.errors for x in c)])
        out.append([f"{r['mode']}, Takes / nginx",
                    f"{r['ratio']:.3f} ({' / '.join(f'{x:.3f}' for x in r['ratios'])})", "", "", "", "", ""])
    text = _load.table(["", "MB/s", "req/s", "p50 ms", "p99 ms", "server CPU ms/MB", "errors"], out)
    print(text)
    if "*" in text:
        print(_load.LATENCY_NOTE)
    print("MB/s counts every byte received, also of answers still in flight when a cell ended.")
    print(f"loadavg after: {_load.loadavg()}")
    ok = all(c.errors == 0 for r in rows for c in r["takes"] + r["nginx"])
    print(json.dumps({"bench": "media", "size": args.size, "conns": args.conns, "duration_s": args.duration,
                      "runs": args.runs, "db": args.db, "accel": args.accel, "client_ceiling_req_s": round(ceiling), "ok": ok,
                      "modes": [{"mode": r["mode"], "ratio": round(r["ratio"], 4),
                                 "ratios": [round(x, 4) for x in r["ratios"]],
                                 "takes": [c.json() for c in r["takes"]], "nginx": [c.json() for c in r["nginx"]]}
                                for r in rows]}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
