"""The fake provider of bench/fanout.py: a remote job is done COMPLETE_AFTER_S after its
create call, whoever asks. Stateless (the remote id carries the creation time), so the bench
process and a worker process agree on it without sharing anything. The result is one tiny,
browser-safe clip rendered once per process, so finishing a take costs what Takes itself
spends (download into storage, probe, poster), not a render.

`python bench/_fanout_provider.py` runs a `takes worker` with this provider registered."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import uuid
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.providers.base import JobStatus, Provider, Submission  # noqa: E402

MODEL_TOML = """
[[model]]
id = "bench/fake-20s"
provider = "bench"
name = "Fan-out fake (bench)"
endpoint = "fake"
family = "Bench"
modes = ["t2v"]
durations = [1]
default_duration = 1
aspect_ratios = ["16:9"]
resolutions = ["360p"]
audio = "none"
price_per_second = 0.0
price_source = "bench/fanout.py fake provider: free"
price_date = "2026-12-01"
status = "live"
description = "bench/fanout.py: done a fixed time after its create call."
"""


def complete_after() -> float:
    return float(os.environ.get("FANOUT_COMPLETE_AFTER_S", "20"))


@lru_cache
def clip() -> Path:
    from app.providers.demo_render import render_clip

    path = Path(tempfile.mkdtemp(prefix="fanout-clip-")) / "clip.mp4"
    return render_clip(path, look="blocks", width=64, height=36, fps=8, duration_s=1, prompt="fan-out")


class BenchProvider(Provider):
    name = "bench"
    label = "Bench fake"
    key_settings = ()
    docs = "bench/_fanout_provider.py"

    async def create(self, model, req) -> Submission:
        return Submission(remote_id=f"{time.time():.3f}-{uuid.uuid4().hex[:8]}")

    async def poll(self, model, remote_id: str, meta) -> JobStatus:
        created = float(remote_id.split("-")[0])
        if time.time() - created >= complete_after():
            return JobStatus("succeeded", progress=1.0, result_url="bench://clip")
        return JobStatus("running", progress=min(0.99, (time.time() - created) / complete_after()))

    async def cancel(self, model, remote_id: str, meta) -> None:
        return None

    async def download(self, model, status: JobStatus, dest: Path, max_bytes: int) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip(), dest)


def install() -> None:
    """Register the provider in this process (the registry is discovered once, then cached)."""
    from app.providers import registry

    registry()["bench"] = BenchProvider
    clip()


def write_catalog(catalog_dir: Path) -> None:
    catalog_dir.mkdir(parents=True, exist_ok=True)
    (catalog_dir / "fanout.toml").write_text(MODEL_TOML)


if __name__ == "__main__":
    import logging

    from app.jobs.worker import run_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from app.settings import get_settings

    install()
    sys.exit(run_forever(get_settings()))
