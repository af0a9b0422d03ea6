"""`python -m app …` as a real subprocess (the server browsers and workers talk to), with its
output kept in a log file that a failing test prints."""

from __future__ import annotations

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


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.args, self.env, self.log = args, env, log
        self.p: subprocess.Popen | None = None

    def start(self) -> Proc:
        fh = self.log.open("ab")
        self.p = subprocess.Popen([sys.executable, "-m", "app", *self.args], cwd=ROOT, env=self.env,
                                  stdout=fh, stderr=subprocess.STDOUT)
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


@contextmanager
def live_server(settings, log_dir: Path) -> Iterator[str]:
    """`python -m app serve` on a free port, up once /api/models answers; yields its base URL."""
    port = free_port()
    proc = Proc(["serve", "--port", str(port)], settings_env(settings), log_dir / "serve.log").start()
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/api/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.p.poll() is not None or time.monotonic() > end:
            raise RuntimeError("server did not start:\n" + proc.output())
        time.sleep(0.1)
    try:
        yield url
    finally:
        proc.kill()
