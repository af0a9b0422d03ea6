"""Shared pieces of the HTTP load benchmarks (bench/votes.py, bench/pages.py, bench/media.py), so
each script holds only what it measures and its anchor.

- databases: a fresh migrated PostgreSQL database or SQLite file, seeded through the app's own
  models (a board of comparisons × ready takes, pre-made voters, votes);
- processes: `takes serve` and the anchors as subprocesses on loopback ports, their CPU read
  from /proc/<pid>/stat (the process and its children, so uvicorn workers and nginx's worker
  count), stopped by pid;
- load clients: an aiohttp closed loop (one request in flight per connection; per-response
  hooks, for the vote ids) and wrk with a generated Lua script (for pages and clips, where a
  Python client would cap the anchors); each client's own ceiling against a trivial server;
- reporting: medians of per-run ratios, a text table and one JSON line.

Run as a script it is one of the tiny servers the benchmarks start:

    python bench/_load.py trivial --port 8900          # fixed 2-byte answer: the client ceiling
    python bench/_load.py bare --port 8901 --dir D     # FastAPI + uvicorn serving D's bytes
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://takes:takes@127.0.0.1:5432/takes_test")
SECRET = "bench"           # SECRET_KEY of every server started here: the client signs cookies with it
MODELS = ("demo/aurora", "demo/ember", "demo/blocks", "fal/kling-v2.1-master")
TICK = os.sysconf("SC_CLK_TCK")


# ---- reporting ------------------------------------------------------------------------------

def loadavg() -> str:
    """`cat /proc/loadavg`: printed before and after every benchmark (the machine is shared)."""
    return Path("/proc/loadavg").read_text().strip()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0–100) of a non-empty list; NaN for an empty one."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[max(0, min(len(s), math.ceil(q / 100 * len(s))) - 1)]


def median_ratio(target: list[float], anchor: list[float]) -> tuple[float, list[float]]:
    """Ratios are taken per run (target and anchor ran back to back), then their median: a run
    slowed by a neighbour slows both sides of its own ratio, not the others'."""
    if len(target) != len(anchor) or not target:
        raise ValueError("one anchor figure per target figure")
    ratios = [t / a if a else float("nan") for t, a in zip(target, anchor)]
    return statistics.median(ratios), ratios


def interleave(runs: int, target, anchor) -> tuple[list, list]:
    """`runs` × (target(), anchor()), the order swapped every other run so neither side always
    gets the warmer (or the quieter) slot."""
    t, a = [], []
    for r in range(runs):
        if r % 2:
            a.append(anchor())
            t.append(target())
        else:
            t.append(target())
            a.append(anchor())
    return t, a


def med(cells: list, attr: str) -> float:
    """Median over the runs of a figure, leaving out runs that have none (NaN: no answer came)."""
    values = [v for v in (getattr(c, attr) for c in cells) if v == v]
    return statistics.median(values) if values else float("nan")


def each(cells: list, attr: str, digits: int = 0) -> str:
    """The per-run figures, for the table: "121 / 107 / 97"."""
    return " / ".join(fmt(getattr(c, attr), digits) for c in cells)


LATENCY_NOTE = ("* p50/p99 of the answers completed within the cell, fewer than 2 per connection: most "
                "connections waited longer than the cell lasted, so the true latency is higher.")


def latency(cells: list, attr: str, conns: int) -> str:
    """Median latency figure of the runs, marked * when a cell completed fewer than two answers
    per connection (wrk and the closed loop time only the answers that came back in time)."""
    short = any(c.requests < 2 * conns for c in cells)
    return fmt(med(cells, attr)) + ("*" if short else "")


def lost_votes(acknowledged: list[str], stored: set[str]) -> list[str]:
    """Acknowledged vote ids (from 201 answers) that are not in the votes table."""
    return [v for v in acknowledged if v not in stored]


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])


def fmt(x: float, digits: int = 1) -> str:
    return "–" if x != x else f"{x:,.{digits}f}"


# ---- /proc ----------------------------------------------------------------------------------

def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by `pid` and its live descendants (uvicorn workers, nginx's
    worker). A reaped child's time would show in cutime; the benchmarks keep theirs alive."""
    parents: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st:
                parents.setdefault(st[0], []).append(int(d))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        st = _stat(p)
        if st:
            total += st[1]
        todo.extend(parents.get(p, []))
    return total


# ---- processes ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    import httpx

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args!r} exited with {proc.returncode} before answering")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"nothing answered at {url} within {timeout:.0f} s")


class Proc:
    """A subprocess this benchmark started: stopped by its own pid (and its process group, so
    uvicorn's workers go with it), its output kept in a log file for when it fails."""

    def __init__(self, args: list[str], *, env: dict | None = None, cwd: Path = ROOT, name: str = "server"):
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pid, self.name = self.proc.pid, name

    def cpu(self) -> float:
        return tree_cpu(self.pid)

    def settle(self, quiet: float = 0.3, timeout: float = 120) -> None:
        """Wait until the process is idle (< 10 ms CPU in `quiet` seconds): requests a load
        client abandoned when its time was up are still being answered, and the next cell
        must not start behind them (nor be charged their CPU)."""
        end, last = time.monotonic() + timeout, self.cpu()
        while time.monotonic() < end:
            time.sleep(quiet)
            now = self.cpu()
            if now - last < 0.01:
                return
            last = now

    def tail(self, n: int = 20) -> str:
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, 15)
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, 9)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        self.log.close()
        os.unlink(self.log.name)


class Group:
    """Several of this benchmark's processes measured as one server (an app behind its
    proxy): CPU summed, idle when all are, stopped each by its own pid."""

    def __init__(self, *procs: Proc):
        self.procs = procs

    def cpu(self) -> float:
        return sum(p.cpu() for p in self.procs)

    def settle(self, quiet: float = 0.3, timeout: float = 120) -> None:
        for p in self.procs:
            p.settle(quiet, timeout)

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()


def serve_supports_workers() -> bool:
    out = subprocess.run([sys.executable, "-m", "app", "serve", "--help"], cwd=ROOT, capture_output=True, text=True)
    return "--workers" in out.stdout


def takes_serve(database_url: str, media_dir: Path, *, workers: int = 1, extra_env: dict | None = None) -> tuple[Proc, str]:
    """`python -m app serve` (= `takes serve`) of this checkout on a free loopback port, with
    jobs in-process (no Redis), open mode, and SECRET_KEY known to the client."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "TEST_"))}
    env.update({"DATABASE_URL": database_url, "MEDIA_DIR": str(media_dir), "SECRET_KEY": SECRET,
                "CATALOG_DIR": str(media_dir / "catalog.d"), "PYTHONPATH": str(ROOT), **(extra_env or {})})
    args = [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers != 1:
        if not serve_supports_workers():
            raise SystemExit("`takes serve` has no --workers option yet (app/cli.py); run with --workers 1")
        args += ["--workers", str(workers)]
    proc = Proc(args, env=env, name="takes")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/api/models", proc.proc)
    except SystemExit:
        print(proc.tail(), file=sys.stderr)
        proc.stop()
        raise
    return proc, base


def helper_server(kind: str, *args: str) -> tuple[Proc, str]:
    """One of this module's own tiny servers (see the module docstring) as a subprocess."""
    port = free_port()
    proc = Proc([sys.executable, str(Path(__file__).resolve()), kind, "--port", str(port), *args], name=kind)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/", proc.proc, timeout=30)
    return proc, base


# ---- databases ------------------------------------------------------------------------------

def pg_dsn(db: str | None = None) -> str:
    url = ADMIN.replace("postgresql+asyncpg://", "postgresql://")
    return url.rsplit("/", 1)[0] + "/" + db if db else url


async def _pg_admin(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn())
    try:
        for st in statements:
            await conn.execute(st)
    finally:
        await conn.close()


def fresh_database(kind: str, name: str, workdir: Path) -> str:
    """A migrated, empty database: PostgreSQL database `name` (dropped first) or a SQLite file
    in `workdir`. Returns the URL the app is given as DATABASE_URL."""
    from app.migrate import upgrade

    if kind == "postgresql":
        asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"))
        url = pg_dsn(name)
    else:
        url = f"sqlite:///{workdir / (name + '.db')}"
    upgrade(url)
    return url


def drop_database(kind: str, name: str) -> None:
    if kind == "postgresql":
        asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@dataclass
class Board:
    """What `seed` made: ids the load clients need."""

    id: str
    slug: str
    comparisons: list[str]
    takes: dict[str, list[str]]                          # comparison id → its 4 take ids
    voters: list[str] = field(default_factory=list)


async def _seed(url: str, slug: str, n_comparisons: int, voters: list[str], n_votes: int, blind: bool,
                clip_key: str | None) -> Board:
    from sqlalchemy import insert

    from app import vote_counts
    from app.db import Database
    from app.models import Board as BoardRow
    from app.models import Comparison, Take, Vote, Voter, utcnow
    from app.settings import Settings

    db = Database(Settings(database_url=url, secret_key=SECRET))
    now = utcnow()
    board = Board(id=f"b{slug}", slug=slug, comparisons=[f"{slug}c{i}" for i in range(n_comparisons)], takes={})
    comps, takes = [], []
    for i, cid in enumerate(board.comparisons):
        comps.append({"id": cid, "board_id": board.id, "params": {"duration_s": 5, "aspect_ratio": "16:9",
                                                                  "resolution": "720p", "audio": False},
                      "prompt": f"Shot {i}: a paper boat drifts down a rain-soaked street at dusk, neon reflections"})
        board.takes[cid] = [f"{cid}t{k}" for k in range(len(MODELS))]
        for k, (tid, model) in enumerate(zip(board.takes[cid], MODELS)):
            takes.append({"id": tid, "comparison_id": cid, "model_id": model, "provider": model.split("/")[0],
                          "status": "ready", "duration_s": 5.0, "fps": 24.0, "width": 1280, "height": 720,
                          "has_audio": False, "cost_estimate_usd": 0.0, "submitted_at": now, "finished_at": now,
                          "clip_key": clip_key or f"takes/{tid}/clip.mp4", "poster_key": f"takes/{tid}/poster.jpg",
                          "media_info": {}})
    vote_rows = []
    for g in range(n_votes):   # pair votes, one per pre-made voter, spread over the board
        cid = board.comparisons[g % n_comparisons]
        a, b = board.takes[cid][g % 4], board.takes[cid][(g + 1) % 4]
        vote_rows.append({"id": f"{slug}v{g}", "ballot_id": f"{slug}v{g}", "board_id": board.id, "comparison_id": cid,
                          "voter_id": voters[g], "criterion": "overall", "kind": "pair", "take_a_id": a,
                          "take_b_id": b, "model_a": MODELS[g % 4], "model_b": MODELS[(g + 1) % 4],
                          "winner": ("model_a", "model_b", "tie", "model_a")[(g // 7) % 4],
                          "pair_key": "|".join(sorted((a, b))), "position_a": 0, "position_b": 1, "blind": blind,
                          "created_at": now})
    try:
        async with db.session() as s:
            await s.execute(insert(BoardRow), [{"id": board.id, "slug": slug, "name": f"Bench {slug}",
                                                "description": "", "visibility": "private", "blind": blind,
                                                "criteria": ["overall"]}])
            for model, rows in ((Voter, [{"id": v} for v in voters]), (Comparison, comps), (Take, takes),
                                (Vote, vote_rows)):
                for i in range(0, len(rows), 5000):
                    await s.execute(insert(model), rows[i:i + 5000])
            # The rows went in past the ballot counts every vote keeps: count them, as migration 0010 does.
            await vote_counts.rebuild(s, [board.id])
            await s.commit()
    finally:
        await db.dispose()
    board.voters = voters
    return board


def seed(url: str, slug: str, comparisons: int, *, voters: list[str] = (), votes: int = 0, blind: bool = True,
         clip_key: str | None = None) -> Board:
    """A board of `comparisons` × 4 ready takes (the MODELS), `voters` made up front (so votes
    come from voters that exist, as from a reviewer's second vote on), and `votes` pair votes
    by the first `votes` voters. Every take points at `clip_key` if given (media.py's clip)."""
    assert votes <= len(voters)
    return asyncio.run(_seed(url, slug, comparisons, list(voters), votes, blind, clip_key))


# ---- cookies --------------------------------------------------------------------------------

def voter_headers(voter_id: str, csrf_seed: str = "bench-seed") -> dict[str, str]:
    """The cookies and header a browser of pre-made voter `voter_id` sends with a vote: its
    signed voter cookie, a CSRF seed cookie and the token derived from it (app/web/security.py)."""
    from app.web.security import CSRF_COOKIE, CSRF_HEADER, VOTER_COOKIE, csrf_for, voter_signer

    signed = voter_signer(SECRET).sign(voter_id).decode()
    return {"cookie": f"{VOTER_COOKIE}={signed}; {CSRF_COOKIE}={csrf_seed}",
            CSRF_HEADER: csrf_for(SECRET, csrf_seed), "content-type": "application/json"}


# ---- load clients ---------------------------------------------------------------------------

@dataclass
class Cell:
    """One measured cell: so many requests answered in so many seconds."""

    requests: int
    seconds: float
    errors: int = 0                   # non-2xx answers and socket errors
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    bytes: int = 0
    server_cpu_s: float = float("nan")
    client_cpu_s: float = float("nan")
    statuses: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else float("nan")

    @property
    def mb_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds else float("nan")

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.server_cpu_s / self.requests if self.requests else float("nan")

    @property
    def cpu_ms_per_mb(self) -> float:
        return 1000 * self.server_cpu_s / (self.bytes / 1e6) if self.bytes else float("nan")

    def json(self) -> dict:
        r = lambda x, d: None if x != x else round(x, d)  # noqa: E731  (NaN is not JSON)
        return {"requests": self.requests, "seconds": r(self.seconds, 3), "rate": r(self.rate, 1),
                "errors": self.errors, "p50_ms": r(self.p50_ms, 2), "p99_ms": r(self.p99_ms, 2),
                "mb_s": r(self.mb_s, 1), "server_cpu_ms_per_request": r(self.cpu_ms_per_request, 3),
                "server_cpu_ms_per_mb": r(self.cpu_ms_per_mb, 3),
                "statuses": self.statuses}


async def closed_loop(request, conns: int, total: int, max_seconds: float, on_response=None) -> Cell:
    """`conns` connections, each with one request in flight, until `total` requests were sent
    (or `max_seconds` passed: then no new ones start). `request(i)` gives (method, url,
    headers, body) of request i; `on_response(i, status, body)` sees every answer."""
    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors, counter = 0, iter(range(total))
    connector = aiohttp.TCPConnector(limit=conns, force_close=False)
    t_cpu = time.process_time()
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
        deadline = time.perf_counter() + max_seconds

        async def worker():
            nonlocal errors
            for i in counter:
                if time.perf_counter() > deadline:
                    return
                method, url, headers, body = request(i)
                t0 = time.perf_counter()
                try:
                    async with http.request(method, url, headers=headers, data=body) as r:
                        data = await r.read()
                        status = r.status
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                statuses[status] = statuses.get(status, 0) + 1
                if status >= 300:
                    errors += 1
                if on_response:
                    on_response(i, status, data)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conns)))
        seconds = time.perf_counter() - t0
    ok = sum(n for s, n in statuses.items() if s < 300)
    return Cell(requests=ok, seconds=seconds, errors=errors, p50_ms=1000 * percentile(latencies, 50),
                p99_ms=1000 * percentile(latencies, 99), statuses={str(k): v for k, v in sorted(statuses.items())},
                client_cpu_s=time.process_time() - t_cpu)


WRK_LUA = """
local range_size, file_size = %(range)d, %(size)d
local path = %(path)s
local thread_no = 0
function setup(thread) thread_no = thread_no + 1; thread:set("seed", thread_no) end
function init(args) math.randomseed(seed * 7919) end
function request()
  if range_size > 0 then
    local start = math.random(0, file_size - range_size)
    return wrk.format("GET", path, {["Range"] = "bytes=" .. start .. "-" .. (start + range_size - 1)})
  end
  return wrk.format("GET", path)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %%d, "us": %%d, "bytes": %%d, "connect": %%d, "read": %%d, '
    .. '"write": %%d, "status": %%d, "timeout": %%d, "p50": %%d, "p99": %%d}\\n', summary.requests,
    summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk(url: str, *, conns: int, seconds: float, threads: int = 2, range_bytes: int = 0, file_size: int = 0,
        server: Proc | None = None) -> Cell:
    """wrk (Debian's) against one URL for `seconds`: cookie-less GETs, or random Range reads of
    `range_bytes` within a file of `file_size`. Non-2xx/3xx answers and socket errors count as
    errors. The server's CPU is read around the run."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    from urllib.parse import urlsplit

    path = urlsplit(url).path or "/"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA % {"range": range_bytes, "size": file_size, "path": json.dumps(path)})
    try:
        if server:
            server.settle()
        cpu0 = server.cpu() if server else 0.0
        out = subprocess.run(["wrk", f"-t{min(threads, conns)}", f"-c{conns}", f"-d{max(1, round(seconds))}s",
                              "--timeout", "30s", "-s", f.name, url], capture_output=True, text=True,
                             timeout=seconds + 60)
        cpu = server.cpu() - cpu0 if server else float("nan")
    finally:
        os.unlink(f.name)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no summary:\n{out.stdout}\n{out.stderr}")
    w = json.loads(line[len("WRKJSON "):])
    errors = w["connect"] + w["read"] + w["write"] + w["status"] + w["timeout"]
    answered = w["requests"] > 0   # else wrk's percentiles are 0, not "no figure"
    return Cell(requests=w["requests"] - w["status"], seconds=w["us"] / 1e6, errors=errors,
                p50_ms=w["p50"] / 1000 if answered else float("nan"),
                p99_ms=w["p99"] / 1000 if answered else float("nan"), bytes=w["bytes"], server_cpu_s=cpu)


def client_ceilings(conns: int, *, python: bool = False, wrk_threads: int = 2, seconds: float = 3) -> dict[str, float]:
    """Requests/s each load client reaches against the trivial server (2-byte answers): the most
    it can measure on this machine now. A figure near it is the client's, not the server's."""
    proc, base = helper_server("trivial")
    out = {}
    try:
        if shutil.which("wrk") or not python:   # votes.py runs without wrk; pages and media need it
            out["wrk_req_s"] = wrk(base + "/", conns=conns, seconds=seconds, threads=wrk_threads).rate
        if python:
            body = json.dumps({"kind": "pair", "take_a": "x" * 20, "take_b": "y" * 20, "outcome": "a"}).encode()
            hdr = voter_headers("ceiling")
            cell = asyncio.run(closed_loop(lambda i: ("POST", base + "/", hdr, body), conns, 10 ** 9, seconds))
            out["aiohttp_req_s"] = cell.rate
            out["aiohttp_client_cpu_ms_per_request"] = 1000 * cell.client_cpu_s / max(1, cell.requests)
    finally:
        proc.stop()
    return out


# ---- the tiny servers -------------------------------------------------------------------------

class _Trivial(asyncio.Protocol):
    """HTTP/1.1 keep-alive, any request → 200 "ok". Reads Content-Length bodies, no chunked."""

    ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"

    def connection_made(self, transport):
        self.t, self.buf = transport, b""

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            n = 0
            for ln in head.split(b"\r\n"):
                if ln.startswith(b"content-length:"):
                    n = int(ln.split(b":", 1)[1])
            if len(self.buf) < end + 4 + n:
                return
            self.buf = self.buf[end + 4 + n:]
            self.t.write(self.ANSWER)


def _serve_trivial(port: int) -> None:
    async def main():
        server = await asyncio.get_running_loop().create_server(_Trivial, "127.0.0.1", port)
        await server.serve_forever()

    asyncio.run(main())


def _serve_bare(port: int, directory: Path) -> None:
    """FastAPI + uvicorn, run the way `takes serve` runs uvicorn, answering each path saved in
    `directory` (pages.py's index.json: path → file, content type) with those bytes from memory."""
    import uvicorn
    from fastapi import FastAPI, Response

    index = json.loads((directory / "index.json").read_text()) if (directory / "index.json").exists() else {}
    pages = {p: ((directory / f).read_bytes(), ctype) for p, (f, ctype) in index.items()}
    app = FastAPI()

    @app.get("/{path:path}")
    async def page(path: str):
        body, ctype = pages.get("/" + path, (b"ok", "text/plain"))
        return Response(body, media_type=ctype)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="the benchmarks' tiny servers")
    ap.add_argument("kind", choices=["trivial", "bare"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", type=Path, default=Path("."))
    a = ap.parse_args()
    _serve_trivial(a.port) if a.kind == "trivial" else _serve_bare(a.port, a.dir)
