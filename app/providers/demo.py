"""The offline demo provider: a fake remote service on local disk.

It behaves like a real provider so the whole flow (and its failure paths) can be seen with
no key and no network: submit returns a job id at once, the job "runs" for the model's
latency, then the clip is rendered (app.providers.demo_render) and offered for download.

Its state lives in files under DEMO_STATE_DIR (default MEDIA_DIR/.demo), not in memory, so
a killed worker that comes back finds its jobs where it left them, exactly as with a real
provider. Every submit is appended to `submissions.log`; tests read that to prove a take is
never submitted twice. Every create call is also noted in `attempts.log` when it starts, so
a create call that never finished (its worker was killed inside it) can be told apart.

Like Kling's `external_task_id`, the demo service knows its jobs by our client key (the take
id), so `reconcile` finds a job whose create call was interrupted after it was made.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from app.ids import new_id
from app.providers.base import GenerationRequest, JobStatus, Provider, ProviderError, Submission

FAILURES = [
    ("moderation", "demo: the simulated content filter refused this prompt"),
    ("provider_error", "demo: simulated GPU out of memory on the render node"),
]


class DemoProvider(Provider):
    name = "demo"
    label = "Demo (offline)"
    key_settings = ()
    docs = "local: no remote API"

    @property
    def root(self) -> Path:
        return self.settings.demo_dir

    def _job_path(self, remote_id: str) -> Path:
        return self.root / "jobs" / f"{remote_id}.json"

    def _latency(self, model) -> float:
        if self.settings.demo_latency_s is not None:
            return self.settings.demo_latency_s
        return float(model.latency_s)

    def _fails(self, remote_id: str, model_id: str) -> bool:
        if model_id in self.settings.demo_fail_models:
            return True
        rate = self.settings.demo_fail_rate
        if rate <= 0:
            return False
        h = int.from_bytes(hashlib.sha256(remote_id.encode()).digest()[:8], "little") / 2**64
        return h < rate

    def _append(self, name: str, line: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / name).open("a") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    async def create(self, model, req: GenerationRequest) -> Submission:
        self._append("attempts.log", req.take_id)
        if self.settings.demo_submit_latency_s:
            await asyncio.sleep(self.settings.demo_submit_latency_s)   # a real create call takes ~1 s
        remote_id = "demo-" + new_id(16)
        # `options.deliver` ({width, height, duration_s, fps, audio}) renders something other than what
        # was asked, as a provider sometimes does: the delivered-as-asked check (app/delivery.py) needs one.
        wrong = model.options.get("deliver", {})
        job = {
            "model": model.id, "look": model.options.get("look", model.endpoint),
            "fps": int(wrong.get("fps", model.options.get("fps", 24))), "width": wrong.get("width", req.width),
            "height": wrong.get("height", req.height),
            "duration_s": wrong.get("duration_s", req.duration_s), "prompt": req.prompt, "seed": req.seed, "audio": wrong.get("audio", req.audio),
            "image": str(req.image) if req.image else None, "submitted_at": time.time(),
            "latency_s": self._latency(model), "fail": self._fails(remote_id, model.id),
            "take_id": req.take_id, "codec": model.options.get("codec", "h264"),
        }
        path = self._job_path(remote_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(job))
        key = self._key_path(req.take_id)
        key.parent.mkdir(parents=True, exist_ok=True)
        key.with_suffix(".tmp").write_text(remote_id)
        key.with_suffix(".tmp").replace(key)
        self._append("submissions.log", f"{req.take_id} {remote_id}")
        return Submission(remote_id)

    def _key_path(self, take_id: str) -> Path:
        return self.root / "by_key" / take_id

    async def reconcile(self, model, req: GenerationRequest) -> Submission | None:
        """The job made for this take id, if a create call got that far."""
        key = self._key_path(req.take_id)
        return Submission(key.read_text().strip()) if key.exists() else None

    async def poll(self, model, remote_id: str, meta: dict[str, Any]) -> JobStatus:
        path = self._job_path(remote_id)
        if not path.exists():
            raise ProviderError("invalid_request", f"demo: no job {remote_id}")
        job = json.loads(path.read_text())
        if job.get("cancelled"):
            return JobStatus("cancelled")
        latency = job["latency_s"]
        elapsed = time.time() - job["submitted_at"]
        hint = max(0.05, min(1.0, latency / 10))
        if job["fail"] and elapsed >= latency * 0.5:
            code, message = FAILURES[int(remote_id.encode().hex(), 16) % len(FAILURES)]
            return JobStatus("failed", error=ProviderError(code, message))
        if elapsed < latency * 0.1:
            return JobStatus("queued", progress=0.0, poll_after=hint)
        if elapsed < latency:
            return JobStatus("running", progress=round(elapsed / latency, 3), poll_after=hint)
        out = self.root / "out" / f"{remote_id}.mp4"
        if not out.exists():
            await asyncio.to_thread(render_job, out, job, self.settings.demo_render_cache_dir)
        return JobStatus("succeeded", progress=1.0, result_url=out.resolve().as_uri())

    async def download(self, model, status: JobStatus, dest: Path, max_bytes: int) -> None:
        src = Path(status.result_url.removeprefix("file://"))
        if not src.exists():
            raise ProviderError("download", "demo: the result has expired")
        if src.stat().st_size > max_bytes:
            raise ProviderError("download", f"result is over the {max_bytes}-byte cap")
        dest.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.copyfile, src, dest)

    async def cancel(self, model, remote_id: str, meta: dict[str, Any]) -> None:
        path = self._job_path(remote_id)
        if path.exists():
            job = json.loads(path.read_text())
            job["cancelled"] = True
            path.write_text(json.dumps(job))


def submission_counts(settings) -> Counter:
    """How many times each take id was submitted to the demo service."""
    log = settings.demo_dir / "submissions.log"
    if not log.exists():
        return Counter()
    return Counter(line.split()[0] for line in log.read_text().splitlines() if line.strip())


def interrupted_creates(settings) -> set[str]:
    """Take ids whose create call started but never made a job (killed inside the call)."""
    log = settings.demo_dir / "attempts.log"
    started = set(log.read_text().split()) if log.exists() else set()
    return {t for t in started if not (settings.demo_dir / "by_key" / t).exists()}


RENDER_KEYS = ("look", "width", "height", "fps", "duration_s", "prompt", "seed", "audio", "codec")


def render_job(out: Path, job: dict[str, Any], cache: Path | None) -> None:
    """Render a job's clip to `out`; with a cache directory, a clip already rendered from the
    same inputs (the image by its bytes) is copied instead. Renders are deterministic, so a
    copy is the clip the render would have made."""
    from app.providers.demo_render import render_clip

    image = Path(job["image"]) if job["image"] else None
    args = dict(look=job["look"], width=job["width"], height=job["height"], fps=job["fps"],
                duration_s=job["duration_s"], prompt=job["prompt"], seed=job["seed"], audio=job["audio"],
                image=image, codec=job.get("codec", "h264"))
    if cache is None:
        render_clip(out, **args)
        return
    key = {k: args[k] for k in RENDER_KEYS}
    key["image"] = hashlib.sha256(image.read_bytes()).hexdigest() if image else None
    kept = cache / (hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest() + ".mp4")
    if not kept.exists():
        render_clip(kept, **args)   # written to a temporary name, then renamed: never half a clip
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.stem}.{os.getpid()}-{threading.get_ident()}.copy")   # as render_clip names its own
    shutil.copyfile(kept, tmp)
    tmp.replace(out)
