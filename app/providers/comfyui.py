"""A self-hosted ComfyUI server running a video workflow (Wan, LTX, Hunyuan ... any graph).

Follows ComfyUI's HTTP routes (docs.comfy.org development/comfyui-server/comms_routes and
comfyanonymous/ComfyUI `server.py`, read November 2026): POST /prompt, GET /history/{id},
GET /queue, POST /queue {"delete"}, POST /interrupt, POST /upload/image, GET /view. There is no
official Python SDK; plain httpx through `self.http`.

A catalog entry names a workflow in ComfyUI's API format and says where our request goes in it:

    [model.options]
    workflow = "wan22_ti2v_5b_t2v.json"      # built-in (app/catalog/workflows) or under CATALOG_DIR
    workflow_i2v = "wan22_ti2v_5b_i2v.json"  # optional: the graph used when a source image is given
    fps = 24                                 # frames = frame_step * round(duration * fps / frame_step) + 1
    frame_step = 4                           # Wan latents take 4n+1 frames, LTX 8n+1
    size_multiple = 32                       # width/height are floored to this multiple
    [model.options.inputs]                   # "node_id.input_name", or a list of them
    prompt = "6.text"
    negative_prompt = "7.text"
    seed = "9.seed"
    frames = "8.length"
    width = "8.width"
    height = "8.height"
    fps = ["11.fps"]
    image = "5.image"                        # LoadImage.image in the i2v graph
    filename_prefix = "12.filename_prefix"

Why the code looks the way it does:
- ComfyUI honours a client-chosen `prompt_id` (server.py: `json_data.get("prompt_id", uuid4())`),
  so ours is uuid5(take id): a prompt can always be found again by the take that sent it. ComfyUI
  does not refuse a duplicate id, so "found again" is what makes a re-submit safe: `reconcile`
  looks in /history and /queue, and only when the id is in neither is submitting again safe.
- Polling, not the WebSocket: /history/{id} is `{}` until the prompt finishes and /queue tells
  queued (with position) from running. Sampler progress exists only on the WebSocket
  (`progress` messages), so `progress` stays None; polling every few seconds is enough for jobs
  that take minutes, and keeps one code path for a server that restarts under us.
- Outputs: core SaveVideo reports its file under "images" (with "animated": [true]), VHS's
  VideoCombine under "gifs"; every output key is scanned for .mp4/.webm/.mov/.mkv files.
- The seed is req.seed or one derived from the take id, so a re-submitted take renders the same.
- A 429 can only come from a proxy in front of ComfyUI (ComfyUI has no rate limit): the request
  never reached ComfyUI, so on POST /prompt it is a retryable rate_limit with the proxy's
  Retry-After, while a 5xx there stays "outcome_unknown" (ComfyUI may have queued the prompt).

Environment: COMFYUI_URL (e.g. http://127.0.0.1:8188; no key — the adapter is available when it
is set). A server behind an auth proxy: put credentials in the URL (http://user:pass@host:8188);
they are sent as HTTP Basic auth and never copied into result URLs. CATALOG_DIR: where users drop
their own `*.toml` entries and workflow JSON (also looked up in CATALOG_DIR/workflows/).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from app.providers._submit import image_bytes_and_mime
from app.providers.base import GenerationRequest, JobStatus, ProviderError, Submission, retry_after_s
from app.providers.http import HttpProvider, json_object, json_value

if TYPE_CHECKING:
    from app.catalog import ModelSpec
    from app.settings import Settings

BUILTIN_WORKFLOWS = Path(__file__).resolve().parent.parent / "catalog" / "workflows"
PROMPT_ID_NAMESPACE = uuid.UUID("5d0b7c1e-6a43-5d8e-9a52-7a6b2f0c7e11")   # fixed: ids must never change
INPUT_KEYS = ("prompt", "negative_prompt", "seed", "frames", "width", "height", "fps", "image", "filename_prefix")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv")


class WorkflowError(ValueError):
    """A catalog entry's workflow is missing, malformed or mapped to inputs it does not have."""


@dataclass
class Workflow:
    path: Path
    graph: dict[str, Any]
    inputs: dict[str, list[tuple[str, str]]]   # our key -> [(node id, input name)]


def prompt_id_for(take_id: str) -> str:
    return str(uuid.uuid5(PROMPT_ID_NAMESPACE, take_id))


def derived_seed(take_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"takes-seed:{take_id}".encode()).digest()[:4], "big") & 0x7FFFFFFF


def frame_count(duration_s: float, fps: float, step: int) -> int:
    """Video latents count the first frame apart: Wan wants 4n+1 frames, LTX 8n+1."""
    step = max(1, int(step))
    return step * max(1, round(duration_s * fps / step)) + 1


def resolve_workflow(name: str, catalog_dir: Path | None) -> Path:
    rel = Path(name)
    if ".." in rel.parts:
        raise WorkflowError(f"workflow {name!r}: '..' is not allowed in a workflow path")
    if rel.is_absolute():
        candidates = [rel]
    else:
        candidates = [catalog_dir / rel, catalog_dir / "workflows" / rel] if catalog_dir else []
        candidates.append(BUILTIN_WORKFLOWS / rel)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c.parent) for c in candidates)
    raise WorkflowError(f"workflow {name!r} not found (looked in {looked})")


def load_workflow(model: ModelSpec, catalog_dir: Path | None, *, image: bool) -> Workflow:
    opts = model.options
    name = opts.get("workflow_i2v") if image and opts.get("workflow_i2v") else opts.get("workflow")
    if not name:
        raise WorkflowError(f"{model.name}: the catalog entry names no workflow (options.workflow)")
    path = resolve_workflow(str(name), catalog_dir)
    try:
        graph = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WorkflowError(f"{path.name} is not readable JSON: {exc}") from exc
    if isinstance(graph, dict) and "nodes" in graph and "links" in graph:
        raise WorkflowError(f"{path.name} is a ComfyUI UI save file; export it with 'Export (API)' instead")
    if not isinstance(graph, dict) or not graph or not all(
            isinstance(n, dict) and "class_type" in n and isinstance(n.get("inputs"), dict) for n in graph.values()):
        raise WorkflowError(f"{path.name} is not an API-format workflow "
                            "({node_id: {class_type, inputs}}); export it with 'Export (API)'")
    mapping: dict[str, list[tuple[str, str]]] = {}
    for key, spec in (opts.get("inputs") or {}).items():
        if key not in INPUT_KEYS:
            raise WorkflowError(f"{model.name}: unknown input {key!r} in options.inputs; known: {', '.join(INPUT_KEYS)}")
        if key == "image" and not image:
            continue  # the text-to-video graph need not have the LoadImage node
        targets = []
        for target in ([spec] if isinstance(spec, str) else list(spec)):
            node, _, input_name = str(target).partition(".")
            if not input_name:
                raise WorkflowError(f"{model.name}: inputs.{key} = {target!r}: expected 'node_id.input_name'")
            if node not in graph:
                raise WorkflowError(f"{model.name}: inputs.{key} = {target!r}: {path.name} has no node {node!r}")
            if input_name not in graph[node]["inputs"]:
                raise WorkflowError(f"{model.name}: inputs.{key} = {target!r}: node {node} "
                                    f"({graph[node]['class_type']}) has no input {input_name!r}")
            targets.append((node, input_name))
        mapping[key] = targets
    if "prompt" not in mapping:
        raise WorkflowError(f"{model.name}: options.inputs.prompt is required (where the prompt text goes)")
    if image and "image" not in mapping:
        raise WorkflowError(f"{model.name}: no options.inputs.image in {path.name}, so it cannot take a source image")
    return Workflow(path=path, graph=graph, inputs=mapping)


def build_graph(wf: Workflow, model: ModelSpec, req: GenerationRequest, image_name: str | None = None) -> dict[str, Any]:
    """The workflow with our request written into the mapped inputs; the file itself is untouched."""
    opts = model.options
    fps = float(opts.get("fps", 24))
    multiple = max(1, int(opts.get("size_multiple", 16)))
    values: dict[str, Any] = {
        "prompt": req.prompt,
        "seed": req.seed if req.seed is not None else derived_seed(req.take_id),
        "frames": frame_count(req.duration_s, fps, int(opts.get("frame_step", 1))),
        "width": max(multiple, req.width // multiple * multiple),
        "height": max(multiple, req.height // multiple * multiple),
        "fps": fps,
        "filename_prefix": f"takes/{req.take_id}",
    }
    if req.negative_prompt:
        values["negative_prompt"] = req.negative_prompt
    if image_name:
        values["image"] = image_name
    graph = copy.deepcopy(wf.graph)
    for key, targets in wf.inputs.items():
        if key in values:
            for node, input_name in targets:
                graph[node]["inputs"][input_name] = values[key]
    return graph


def find_video(outputs: dict[str, Any]) -> dict[str, Any] | None:
    """The first video file among a history entry's outputs, preferring type "output" over "temp"."""
    found = []
    for node_id in sorted(outputs, key=lambda k: (len(k), k)):
        for items in (outputs[node_id] or {}).values():
            if not isinstance(items, list):
                continue
            for item in items:
                if isinstance(item, dict) and str(item.get("filename", "")).lower().endswith(VIDEO_SUFFIXES):
                    found.append(item)
    found.sort(key=lambda item: item.get("type", "output") != "output")
    return found[0] if found else None


def describe_rejection(body: Any) -> str:
    """ComfyUI's 400 body as one readable sentence: the error, then every node's errors."""
    if not isinstance(body, dict):
        return str(body)[:500]
    parts: list[str] = []
    err = body.get("error")
    if isinstance(err, dict):
        parts.append(str(err.get("message") or err.get("type") or "rejected"))
        if err.get("details"):
            parts.append(str(err["details"]))
    elif err:
        parts.append(str(err))
    for node_id, node in (body.get("node_errors") or {}).items():
        for e in (node or {}).get("errors", []):
            detail = f": {e['details']}" if e.get("details") else ""
            parts.append(f"node {node_id} ({node.get('class_type', '?')}): {e.get('message', 'error')}{detail}")
    return "; ".join(parts) or "ComfyUI rejected the workflow"


class ComfyUIProvider(HttpProvider):
    name = "comfyui"
    label = "ComfyUI (self-hosted)"
    key_settings = ("comfyui_url",)
    docs = "ComfyUI server routes (docs.comfy.org comms_routes; comfyanonymous/ComfyUI server.py), read 2026-11"
    base_url_setting = "comfyui_url"
    # The client key is honoured: when reconcile() finds the prompt nowhere, submitting the same
    # take again (same prompt_id) cannot create a second job. A hint for the jobs layer.
    resubmit_safe_when_not_found = True

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None):
        super().__init__(settings, http)
        self.client_id = str(uuid.uuid4())

    # -- URLs and auth -------------------------------------------------------------------------

    @property
    def service(self) -> str:
        return f"ComfyUI at {self._public_base()}"

    async def auth_headers(self) -> dict[str, str]:
        return {}   # userinfo in COMFYUI_URL becomes Basic auth in httpx

    def _public_base(self) -> str:
        parts = urlsplit(self.url())
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def download_headers(self, url: str) -> dict[str, str]:
        parts = urlsplit(self.url())
        if parts.username is None:
            return {}
        token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    # -- the interface -------------------------------------------------------------------------
    def validate(self, model: ModelSpec, req: GenerationRequest) -> list[str]:
        try:
            load_workflow(model, self.settings.catalog_dir, image=req.has_image)
        except WorkflowError as exc:
            return [str(exc)]
        return super().validate(model, req)

    def create_error(self, model: ModelSpec, resp: httpx.Response) -> ProviderError | None:
        """ComfyUI has no rate limit and no auth: a 401/403/429 comes from a proxy in front of it
        (nothing reached ComfyUI); a 5xx leaves the outcome unknown, and reconcile() can tell."""
        status = resp.status_code
        if status in (401, 403):
            return ProviderError("auth", f"ComfyUI (or its proxy) refused us: HTTP {status}; "
                                 "put credentials in COMFYUI_URL", status=status)
        if status == 429:
            return ProviderError("rate_limit", f"the proxy in front of ComfyUI rate-limited POST /prompt (HTTP 429): "
                                 f"{resp.text[:200]}", retryable=True, retry_after=retry_after_s(resp), status=429)
        if status >= 500:
            return ProviderError("provider_error", f"HTTP {status} on POST /prompt", status=status)
        if status >= 400:
            return ProviderError("invalid_request", describe_rejection(json_value(resp, resp.text)), status=status)
        return None

    async def create(self, model: ModelSpec, req: GenerationRequest) -> Submission:
        try:
            wf = load_workflow(model, self.settings.catalog_dir, image=req.image is not None)
        except WorkflowError as exc:
            raise ProviderError("invalid_request", str(exc)) from exc
        image_name = await self._upload(req) if req.image else None
        pid = prompt_id_for(req.take_id)
        body = {"prompt": build_graph(wf, model, req, image_name), "client_id": self.client_id, "prompt_id": pid}
        data = json_object(await self.create_call(model, self.url("/prompt"), body))
        returned = str(data.get("prompt_id") or pid)
        meta = {"client_id": self.client_id, "number": data.get("number"), "workflow": wf.path.name}
        if returned != pid:
            meta["client_key_ignored"] = True   # a ComfyUI too old to take prompt_id: reconcile cannot help
        return Submission(remote_id=returned, meta=meta)

    async def poll(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> JobStatus:
        finished = await self._history_status(remote_id)
        if finished:
            return finished
        running, pending = await self._queue()
        if remote_id in running:
            return JobStatus("running", meta={"queue": "running"})
        if remote_id in pending:
            ahead = sum(1 for n in pending.values() if n < pending[remote_id]) + len(running)
            return JobStatus("queued", meta={"queue": "pending", "queue_position": ahead})
        finished = await self._history_status(remote_id)   # it may have finished between the two calls
        if finished:
            return finished
        return JobStatus("failed", error=ProviderError(
            "provider_error", f"ComfyUI no longer knows prompt {remote_id}: it is in neither the queue nor the "
                              "history (was the server restarted, or the history cleared?)"))

    async def cancel(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> None:
        """Pending: removed from the queue. Running: interrupted (ComfyUI stops between steps)."""
        running, pending = await self._queue()
        if remote_id in pending:
            await self._post("/queue", {"delete": [remote_id]})
        elif remote_id in running:
            await self._post("/interrupt", {"prompt_id": remote_id})

    async def reconcile(self, model: ModelSpec, req: GenerationRequest) -> Submission | None:
        """Look for this take's prompt_id in /history, then /queue. Found: poll it. None: the id is
        nowhere, so a re-submit of the same take is safe (see `resubmit_safe_when_not_found`) —
        except after a ComfyUI restart, which forgets history: then the clip is rendered again."""
        pid = prompt_id_for(req.take_id)
        history = await self._get_json(f"/history/{pid}")
        if pid in history:
            return Submission(remote_id=pid, meta={"client_id": self.client_id, "reconciled": "history"})
        running, pending = await self._queue()
        if pid in running or pid in pending:
            return Submission(remote_id=pid, meta={"client_id": self.client_id, "reconciled": "queue"})
        return None

    # -- ComfyUI calls ---------------------------------------------------------------------------
    async def _upload(self, req: GenerationRequest) -> str:
        """POST /upload/image under a name derived from the take, so a repeat overwrites itself."""
        assert req.image is not None
        suffix = req.image.suffix.lower() or ".png"
        name = f"takes_{req.take_id}{suffix}"
        data, mime = image_bytes_and_mime(req)
        resp = await self.call("POST", self.url("/upload/image"), what="image upload", files={"image": (name, data, mime)},
                               data={"type": "input", "overwrite": "true"})
        if resp.status_code in (401, 403):
            raise ProviderError("auth", f"ComfyUI (or its proxy) refused the upload: HTTP {resp.status_code}",
                                status=resp.status_code)
        if resp.status_code >= 400:
            retry = resp.status_code >= 500 or resp.status_code == 429
            raise ProviderError("provider_error" if retry else "invalid_request",
                                f"ComfyUI refused the source image: HTTP {resp.status_code}: {resp.text[:300]}",
                                retryable=retry, retry_after=retry_after_s(resp) if retry else None,
                                status=resp.status_code)
        reply = json_object(resp)
        stored = str(reply.get("name") or name)
        return f"{reply['subfolder']}/{stored}" if reply.get("subfolder") else stored

    async def _history_status(self, pid: str) -> JobStatus | None:
        entry = (await self._get_json(f"/history/{pid}")).get(pid)
        if not entry:
            return None
        status = entry.get("status") or {}
        messages = [m for m in status.get("messages") or [] if isinstance(m, list) and len(m) == 2]
        if status.get("status_str") == "error":
            if any(kind == "execution_interrupted" for kind, _ in messages):
                return JobStatus("cancelled", meta={"history": "interrupted"})
            for kind, data in messages:
                if kind == "execution_error":
                    where = f" (node {data.get('node_id')}, {data.get('node_type')})" if data.get("node_id") else ""
                    kind_name = f"{data['exception_type']}: " if data.get("exception_type") else ""
                    return JobStatus("failed", error=ProviderError(
                        "provider_error", f"{kind_name}{data.get('exception_message', '').strip()}{where}"))
            return JobStatus("failed", error=ProviderError("provider_error", "ComfyUI reported an error without details"))
        video = find_video(entry.get("outputs") or {})
        if video is None:
            names = [i.get("filename") for o in (entry.get("outputs") or {}).values()
                     for items in (o or {}).values() if isinstance(items, list)
                     for i in items if isinstance(i, dict)]
            return JobStatus("failed", error=ProviderError(
                "provider_error", "the workflow finished but saved no video (.mp4/.webm); outputs: "
                                  f"{', '.join(map(str, names)) or 'none'} — end it with SaveVideo or VHS_VideoCombine"))
        query = urlencode({"filename": video["filename"], "subfolder": video.get("subfolder", ""),
                           "type": video.get("type", "output")})
        return JobStatus("succeeded", progress=1.0, result_url=f"{self._public_base()}/view?{query}",
                         meta={"filename": video["filename"], "subfolder": video.get("subfolder", "")})

    async def _queue(self) -> tuple[dict[str, float], dict[str, float]]:
        data = await self._get_json("/queue")

        def ids(items: Any) -> dict[str, float]:
            out = {}
            for item in items or []:
                if isinstance(item, list) and len(item) > 1:
                    try:
                        out[str(item[1])] = float(item[0])
                    except (TypeError, ValueError):
                        out[str(item[1])] = 0.0
            return out

        return ids(data.get("queue_running")), ids(data.get("queue_pending"))

    async def _get_json(self, path: str) -> dict[str, Any]:
        resp = await self.call("GET", self.url(path), what=path)
        if resp.status_code in (401, 403):
            raise ProviderError("auth", f"ComfyUI (or its proxy) refused us: HTTP {resp.status_code}",
                                status=resp.status_code)
        if resp.status_code >= 400:
            raise ProviderError("rate_limit" if resp.status_code == 429 else "provider_error",
                                f"ComfyUI {path}: HTTP {resp.status_code}",
                                retryable=resp.status_code >= 500 or resp.status_code == 429,
                                retry_after=retry_after_s(resp), status=resp.status_code)
        return self.read_json(resp, path)

    async def _post(self, path: str, body: dict[str, Any]) -> None:
        resp = await self.call("POST", self.url(path), what=path, json=body)
        if resp.status_code >= 400:
            raise ProviderError("provider_error", f"ComfyUI {path}: HTTP {resp.status_code}",
                                retryable=resp.status_code >= 500 or resp.status_code == 429,
                                retry_after=retry_after_s(resp), status=resp.status_code)
