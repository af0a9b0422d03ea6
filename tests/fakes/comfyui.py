"""A local fake of a ComfyUI server's HTTP routes, with ComfyUI's own response shapes.

POST /prompt (client prompt_id honoured, 400 `{"error", "node_errors"}` on validation failures),
GET /history/{id} (`{}` until done), GET /queue (`queue_running` / `queue_pending` as
[number, prompt_id, prompt, extra_data, outputs] lists), POST /queue {"delete"|"clear"},
POST /interrupt, POST /upload/image (multipart), GET /view. One prompt runs at a time: each
GET /queue lets time pass (the next pending prompt starts; the running one advances a step and
finishes after `steps_to_finish` steps), so a poller sees queued -> running -> done.

Finished prompts save a video the way the output node would: core SaveVideo lists it under
"images" with "animated": [true]; VHS_VideoCombine under "gifs". Faults are scripted with `Script`.

ComfyUI itself has no auth and no rate limit; servers reachable over a network sit behind a
proxy that adds both. `basic_auth` and `throttle` play that proxy: a throttled request never
reaches ComfyUI and is answered 429 with a Retry-After header, as nginx (`limit_req_status 429`)
or a hosted gateway would.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from tests.fakes import tiny_mp4

OUTPUT_NODES = {"SaveVideo", "SaveWEBM", "VHS_VideoCombine", "SaveImage", "PreviewImage", "SaveAnimatedWEBP"}
KNOWN_NODES = OUTPUT_NODES | {
    "UNETLoader", "CLIPLoader", "VAELoader", "CheckpointLoaderSimple", "ModelSamplingSD3", "CLIPTextEncode",
    "Wan22ImageToVideoLatent", "WanImageToVideo", "EmptyHunyuanLatentVideo", "KSampler", "VAEDecode",
    "CreateVideo", "LoadImage", "LTXVConditioning", "EmptyLTXVLatentVideo", "LTXVScheduler", "KSamplerSelect",
    "SamplerCustom", "LTXVImgToVideo",
}


@dataclass
class Script:
    steps_to_finish: int = 2               # /queue calls a running prompt takes to finish
    output_style: str = "images"           # images (SaveVideo) | gifs (VHS_VideoCombine) | png (no video)
    reject_next_prompt: bool = False       # 400 prompt_outputs_failed_validation on the next POST /prompt
    fail_next_prompt: int | None = None    # HTTP status for the next POST /prompt (e.g. 500)
    hang_next_prompt: float = 0.0          # sleep before answering the next POST /prompt (after queueing)
    fail_execution: str | None = None      # prompts end with execution_error and this exception_message
    fail_next_history: int | None = None   # HTTP status for the next GET /history/{id}
    basic_auth: tuple[str, str] | None = None   # behave like an auth proxy in front of ComfyUI
    throttle: list[str] = field(default_factory=list)  # "METHOD /path-prefix": the proxy answers the next
    retry_after: str = "2"                              # matching request 429 with this Retry-After
    lose_prompts: bool = False             # forget everything (a restart): history and queue emptied
    posts: list[dict[str, Any]] = field(default_factory=list)   # every POST /prompt body
    requests: list[str] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)   # (subfolder, filename) -> bytes
    pending: list[list[Any]] = field(default_factory=list)
    running: list[Any] | None = None
    running_steps: int = 0
    history: dict[str, dict[str, Any]] = field(default_factory=dict)
    number: int = 0
    counter: int = 0


def create_app(script: Script | None = None) -> tuple[FastAPI, Script]:
    state = script or Script()
    app = FastAPI()

    @app.middleware("http")
    async def gate(request: Request, call_next):
        state.requests.append(f"{request.method} {request.url.path}")
        if state.basic_auth:
            expected = "Basic " + base64.b64encode(":".join(state.basic_auth).encode()).decode()
            if request.headers.get("authorization") != expected:
                return PlainTextResponse("401: Unauthorized", status_code=401,
                                         headers={"WWW-Authenticate": 'Basic realm="comfyui"'})
        call = f"{request.method} {request.url.path}"
        for i, prefix in enumerate(state.throttle):
            if call.startswith(prefix):
                del state.throttle[i]
                return PlainTextResponse("429 Too Many Requests", status_code=429,
                                         headers={"Retry-After": state.retry_after})
        if state.lose_prompts:
            state.pending.clear()
            state.running = None
            state.history.clear()
            state.lose_prompts = False
        return await call_next(request)

    @app.post("/prompt")
    async def post_prompt(request: Request):
        body = await request.json()
        state.posts.append(body)
        if state.fail_next_prompt:
            status, state.fail_next_prompt = state.fail_next_prompt, None
            return PlainTextResponse("500 Internal Server Error\n\nServer got itself in trouble", status_code=status)
        if "prompt" not in body:
            return JSONResponse({"error": {"type": "no_prompt", "message": "No prompt provided",
                                           "details": "No prompt provided", "extra_info": {}}, "node_errors": {}},
                                status_code=400)
        prompt = body["prompt"]
        rejection = _validate(prompt, state)
        if rejection:
            return JSONResponse(rejection, status_code=400)
        prompt_id = str(body.get("prompt_id", uuid.uuid4()))
        number = state.number
        state.number += 1
        extra = {"client_id": body["client_id"]} if "client_id" in body else {}
        extra["create_time"] = int(time.time() * 1000)
        outputs = [nid for nid, n in prompt.items() if n["class_type"] in OUTPUT_NODES]
        state.pending.append([number, prompt_id, prompt, extra, outputs])
        if state.hang_next_prompt:
            delay, state.hang_next_prompt = state.hang_next_prompt, 0.0
            await asyncio.sleep(delay)
        return {"prompt_id": prompt_id, "number": number, "node_errors": {}}

    @app.get("/queue")
    async def get_queue():
        answer = {"queue_running": [state.running] if state.running else [], "queue_pending": list(state.pending)}
        _tick(state)
        return answer

    @app.post("/queue")
    async def post_queue(request: Request):
        body = await request.json()
        if body.get("clear"):
            state.pending.clear()
        for pid in body.get("delete", []):
            state.pending[:] = [item for item in state.pending if item[1] != pid]
        return Response(status_code=200)

    @app.post("/interrupt")
    async def interrupt(request: Request):
        raw = await request.body()
        body = await request.json() if raw else {}
        wanted = body.get("prompt_id")
        if state.running and (wanted is None or wanted == state.running[1]):
            _finish(state, interrupted=True)
        return Response(status_code=200)

    @app.get("/history/{prompt_id}")
    async def history(prompt_id: str):
        if state.fail_next_history:
            status, state.fail_next_history = state.fail_next_history, None
            return PlainTextResponse("502 Bad Gateway", status_code=status)
        entry = state.history.get(prompt_id)
        return {prompt_id: entry} if entry else {}

    @app.post("/upload/image")
    async def upload(request: Request):
        form = await request.form()
        image = form.get("image")
        if image is None or not hasattr(image, "read"):
            return Response(status_code=400)
        subfolder = str(form.get("subfolder") or "")
        name = image.filename
        data = await image.read()
        key = f"{subfolder}/{name}" if subfolder else name
        state.uploads[key] = data
        return {"name": name, "subfolder": subfolder, "type": str(form.get("type") or "input")}

    @app.get("/view")
    async def view(filename: str, subfolder: str = "", type: str = "output"):
        data = state.files.get((subfolder, filename))
        if data is None or type != "output":
            return Response(status_code=404)
        return Response(data, media_type="video/mp4" if filename.endswith(".mp4") else "image/png")

    return app, state


def _validate(prompt: dict[str, Any], state: Script) -> dict[str, Any] | None:
    if not isinstance(prompt, dict) or not prompt:
        return {"error": {"type": "invalid_prompt", "message": "Cannot execute because the prompt is empty.",
                          "details": "", "extra_info": {}}, "node_errors": {}}
    for nid, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            return {"error": {"type": "invalid_prompt", "message": "Cannot execute because a node is missing the "
                              "class_type property.", "details": f"Node ID '#{nid}'", "extra_info": {}},
                    "node_errors": {}}
        if node["class_type"] not in KNOWN_NODES:
            return {"error": {"type": "invalid_prompt", "message": f"Cannot execute because node "
                              f"{node['class_type']} does not exist.", "details": f"Node ID '#{nid}'",
                              "extra_info": {}}, "node_errors": {}}
    outputs = [nid for nid, n in prompt.items() if n["class_type"] in OUTPUT_NODES]
    if not outputs:
        return {"error": {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "",
                          "extra_info": {}}, "node_errors": {}}
    failed = "prompt_outputs_failed_validation"
    if state.reject_next_prompt:
        state.reject_next_prompt = False
        loader = next((nid for nid, n in prompt.items() if "Loader" in n["class_type"]), next(iter(prompt)))
        field_name, value = next(iter(prompt[loader]["inputs"].items()))
        return {"error": {"type": failed, "message": "Prompt outputs failed validation", "details": "",
                          "extra_info": {}},
                "node_errors": {loader: {"errors": [{"type": "value_not_in_list", "message": "Value not in list",
                                                     "details": f"{field_name}: '{value}' not in []",
                                                     "extra_info": {"input_name": field_name}}],
                                         "dependent_outputs": outputs, "class_type": prompt[loader]["class_type"]}}}
    for nid, node in prompt.items():
        if node["class_type"] == "LoadImage" and node["inputs"].get("image") not in state.uploads:
            name = node["inputs"].get("image")
            return {"error": {"type": failed, "message": "Prompt outputs failed validation", "details": "",
                              "extra_info": {}},
                    "node_errors": {nid: {"errors": [{"type": "custom_validation_failed",
                                                      "message": "Custom validation failed for node",
                                                      "details": f"image - Invalid image file: {name}",
                                                      "extra_info": {"input_name": "image"}}],
                                          "dependent_outputs": outputs, "class_type": "LoadImage"}}}
    return None


def _tick(state: Script) -> None:
    """Let time pass: start the next prompt, or move the running one a step towards done."""
    if state.running is None:
        if state.pending:
            state.pending.sort(key=lambda item: item[0])
            state.running = state.pending.pop(0)
            state.running_steps = 0
        return
    state.running_steps += 1
    if state.running_steps >= state.steps_to_finish:
        _finish(state)


def _finish(state: Script, interrupted: bool = False) -> None:
    number, pid, prompt, extra, outputs = state.running
    state.running = None
    now = int(time.time() * 1000)
    messages: list[list[Any]] = [["execution_start", {"prompt_id": pid, "timestamp": now}],
                                 ["execution_cached", {"nodes": [], "prompt_id": pid, "timestamp": now}]]
    entry: dict[str, Any] = {"prompt": [number, pid, prompt, extra, outputs], "outputs": {}, "meta": {}}
    if interrupted or state.fail_execution:
        node_id = next((nid for nid, n in prompt.items() if n["class_type"] in ("KSampler", "SamplerCustom")),
                       next(iter(prompt)))
        base = {"prompt_id": pid, "node_id": node_id, "node_type": prompt[node_id]["class_type"], "executed": [],
                "timestamp": now}
        if interrupted:
            messages.append(["execution_interrupted", base])
        else:
            messages.append(["execution_error", base | {
                "exception_message": state.fail_execution + "\n", "exception_type": "torch.OutOfMemoryError",
                "traceback": ["  File \"execution.py\", line 496, in execute\n"], "current_inputs": {},
                "current_outputs": {}}])
        entry["status"] = {"status_str": "error", "completed": False, "messages": messages}
        state.history[pid] = entry
        return
    out_id = outputs[0]
    node = prompt[out_id]
    prefix = str(node["inputs"].get("filename_prefix", "ComfyUI"))
    subfolder, _, base_name = prefix.rpartition("/")
    state.counter += 1
    if state.output_style == "png":
        filename = f"{base_name}_{state.counter:05}_.png"
        entry["outputs"][out_id] = {"images": [{"filename": filename, "subfolder": subfolder, "type": "output"}]}
        state.files[(subfolder, filename)] = b"\x89PNG\r\n\x1a\n"
    else:
        filename = f"{base_name}_{state.counter:05}_.mp4"
        state.files[(subfolder, filename)] = tiny_mp4()
        item = {"filename": filename, "subfolder": subfolder, "type": "output"}
        if state.output_style == "gifs":
            entry["outputs"][out_id] = {"gifs": [item | {"format": "video/h264-mp4", "frame_rate": 24.0,
                                                         "workflow": filename.replace(".mp4", ".png"),
                                                         "fullpath": f"/ComfyUI/output/{subfolder}/{filename}"}]}
        else:
            entry["outputs"][out_id] = {"images": [item], "animated": [True]}
    messages.append(["execution_success", {"prompt_id": pid, "timestamp": now}])
    entry["status"] = {"status_str": "success", "completed": True, "messages": messages}
    entry["meta"] = {out_id: {"node_id": out_id, "display_node": out_id, "parent_node": None, "real_node_id": out_id}}
    state.history[pid] = entry
