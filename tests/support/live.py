"""`python -m app …` as a real subprocess (the server browsers and workers talk to), with its
output kept in a log file that a failing test prints."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.fakes import free_port
from tests.support import ROOT
from tests.support.settings import settings_env


# What `python -m app` imports before it does anything: preloaded once per test process in a
# fork server, so each server or worker a test starts is a fork (~0.05 s) instead of a new
# interpreter importing FastAPI, SQLAlchemy, PyAV, NumPy and the app (~2 s of CPU each, and
# the suite starts about a hundred of them).
PRELOAD = ["app.cli", "app.main", "app.jobs.worker", "app.migrate", "uvicorn", "arq"]
_forks = None


def _fork_context():
    global _forks
    if _forks is None:
        _forks = multiprocessing.get_context("forkserver")
        _forks.set_forkserver_preload(PRELOAD)
    return _forks


def _run_cli(args: list[str], env: dict[str, str], cwd: str, log: str, stdin: str | None = None,
             err: str | None = None) -> None:
    """The child: what `python -m app ARGS` does, with this environment, output to `log` (and
    standard error to `err` when given), standard input from the file `stdin` when given."""
    for path, fds in ((log, (1,) if err else (1, 2)), (err, (2,))):
        if path:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            for target in fds:
                os.dup2(fd, target)
            os.close(fd)
    if stdin is not None:
        fd = os.open(stdin, os.O_RDONLY)
        os.dup2(fd, 0)
        os.close(fd)
        sys.stdin = open(0, closefd=False)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.argv = [str(Path(cwd) / "app" / "__main__.py"), *args]
    from app.cli import main
    from app.settings import get_settings

    get_settings.cache_clear()
    code = main(args)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


class Forked:
    """The part of subprocess.Popen the tests use, over a forked multiprocessing.Process:
    exit codes as Popen gives them (negative for a signal)."""

    def __init__(self, process):
        self.process = process

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode

    def poll(self) -> int | None:
        return None if self.process.is_alive() else self.process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired("python -m app", timeout)
        return self.process.exitcode

    def send_signal(self, sig: int) -> None:
        if self.process.exitcode is None:
            os.kill(self.process.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Proc:
    """`python -m app ARGS` in its own process with its own environment, forked from the
    preloaded fork server (`exec=True`: a new interpreter, for a test about the command itself)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, exec: bool = False):
        self.args, self.env, self.log, self.exec = args, env, log, exec
        self.p: subprocess.Popen | Forked | None = None

    def start(self) -> Proc:
        if self.exec:
            with self.log.open("ab") as fh:
                self.p = subprocess.Popen([sys.executable, "-m", "app", *self.args], cwd=ROOT, env=self.env,
                                          stdout=fh, stderr=subprocess.STDOUT)
            return self
        process = _fork_context().Process(target=_run_cli, args=(self.args, self.env, str(ROOT), str(self.log)),
                                          daemon=True)   # ended with the test process
        process.start()
        self.p = Forked(process)
        return self

    def kill(self, sig=None) -> None:
        if self.p and self.p.poll() is None:
            self.p.send_signal(sig or signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def run_cli(args: list[str], env: dict[str, str], work: Path, stdin: str = "",
            timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m app ARGS` to its end, forked from the fork server (as Proc): its exit code,
    standard output and standard error, as subprocess.run(capture_output=True, text=True)
    gives them. A new interpreter for each of a CLI test's commands cost ~2 s of CPU."""
    work.mkdir(parents=True, exist_ok=True)
    n = len(list(work.glob("cli-*.in")))
    files = {k: work / f"cli-{n}.{k}" for k in ("in", "out", "err")}
    files["in"].write_text(stdin)
    process = _fork_context().Process(target=_run_cli, args=(args, env, str(ROOT), str(files["out"]), str(files["in"]),
                                                           str(files["err"])), daemon=True)
    process.start()
    process.join(timeout)
    if process.exitcode is None:
        process.kill()
        raise subprocess.TimeoutExpired(["python", "-m", "app", *args], timeout)
    read = lambda k: files[k].read_text(errors="replace") if files[k].exists() else ""  # noqa: E731
    return subprocess.CompletedProcess(["python", "-m", "app", *args], process.exitcode, read("out"), read("err"))


@contextmanager
def live_server(settings, log_dir: Path) -> Iterator[str]:
    """`python -m app serve` on a free port, up once /api/models answers; yields its base URL."""
    port = free_port()
    proc = Proc(["serve", "--port", str(port)], settings_env(settings), log_dir / "serve.log").start()
    url = f"http://127.0.0.1:{port}"
    wait_http(url, proc)
    try:
        yield url
    finally:
        proc.kill()


def wait_http(url: str, proc: Proc, timeout: float = 30) -> None:
    """Until `python -m app serve` at `url` answers GET /api/models (or its process ends)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(url + "/api/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.p.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError("server did not start:\n" + proc.output())
