"""The ComfyUI adapter against a local fake of ComfyUI's HTTP routes (tests/fakes/comfyui.py)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import httpx
import pytest
from PIL import Image

from app.catalog import check_request, load_catalog
from app.providers.base import GenerationRequest, JobStatus, ProviderError
from app.providers.comfyui import (
    BUILTIN_WORKFLOWS,
    ComfyUIProvider,
    WorkflowError,
    derived_seed,
    find_video,
    frame_count,
    load_workflow,
    prompt_id_for,
)
from app.settings import Settings
from tests.fakes import free_port, serve
from tests.fakes.comfyui import create_app

CATALOG = load_catalog()
WAN = CATALOG.get("comfyui/wan2.2-ti2v-5b")
LTX = CATALOG.get("comfyui/ltxv-2b-0.9.5")

# Core node classes used by the shipped graphs, as registered in comfyanonymous/ComfyUI
# (nodes.py, comfy_extras/nodes_wan.py, nodes_lt.py, nodes_custom_sampler.py, nodes_video.py).
CORE_NODES = {"UNETLoader", "CLIPLoader", "VAELoader", "CheckpointLoaderSimple", "ModelSamplingSD3", "CLIPTextEncode",
              "Wan22ImageToVideoLatent", "KSampler", "VAEDecode", "CreateVideo", "SaveVideo", "LoadImage",
              "LTXVConditioning", "EmptyLTXVLatentVideo", "LTXVScheduler", "KSamplerSelect", "SamplerCustom"}


@pytest.fixture
def fake():
    app, state = create_app()
    with serve(app) as url:
        yield url, state


def make(url: str, catalog_dir: Path | None = None, timeout: float | httpx.Timeout = 10.0) -> ComfyUIProvider:
    settings = Settings(_env_file=None, comfyui_url=url, catalog_dir=catalog_dir or Path("/nonexistent-catalog"))
    return ComfyUIProvider(settings, http=httpx.AsyncClient(timeout=timeout))


@pytest.fixture
async def comfy(fake):
    p = make(fake[0])
    yield p
    await p.aclose()


def req(**kw) -> GenerationRequest:
    base = dict(take_id="take-cf-1", prompt="a hummingbird hovering over a red flower", duration_s=5,
                aspect_ratio="16:9", resolution="720p", width=1280, height=720)
    base.update(kw)
    return GenerationRequest(**base)


async def run_to_end(p: ComfyUIProvider, model, remote_id: str, meta: dict, limit: int = 20) -> JobStatus:
    for _ in range(limit):
        st = await p.poll(model, remote_id, meta)
        if st.state in ("succeeded", "failed", "cancelled"):
            return st
    raise AssertionError("prompt never finished")


async def expect_error(coro) -> ProviderError:
    with pytest.raises(ProviderError) as exc:
        await coro
    return exc.value


def posted_graph(state) -> dict:
    return state.posts[-1]["prompt"]


# -- lifecycle ------------------------------------------------------------------------------------
async def test_submit_poll_download_gives_a_playable_video(comfy, fake, tmp_path):
    _, state = fake
    sub = await comfy.submit(WAN, req())
    assert sub.remote_id == prompt_id_for("take-cf-1")
    seen = []
    for _ in range(10):
        st = await comfy.poll(WAN, sub.remote_id, sub.meta)
        seen.append(st.state)
        if st.state == "succeeded":
            break
    assert seen == ["queued", "running", "running", "succeeded"]
    assert "/view?" in st.result_url and "subfolder=takes" in st.result_url and "type=output" in st.result_url
    dest = tmp_path / "clip.mp4"
    await comfy.download(WAN, st, dest, max_bytes=10_000_000)
    with av.open(str(dest)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12


async def test_queued_behind_another_prompt_reports_its_position(comfy, fake):
    _, state = fake
    first = await comfy.submit(WAN, req(take_id="first"))
    second = await comfy.submit(WAN, req(take_id="second"))
    st1 = await comfy.poll(WAN, first.remote_id, first.meta)      # both pending; first starts afterwards
    assert st1.state == "queued" and st1.meta["queue_position"] == 0
    st2 = await comfy.poll(WAN, second.remote_id, second.meta)
    assert st2.state == "queued" and st2.meta["queue_position"] == 1   # behind the running first


# -- request mapping ------------------------------------------------------------------------------
async def test_wan_graph_gets_our_values_in_the_mapped_inputs(comfy, fake):
    _, state = fake
    on_disk = (BUILTIN_WORKFLOWS / "wan22_ti2v_5b_t2v.json").read_text()
    await comfy.submit(WAN, req(negative_prompt="people, text"))
    body = state.posts[-1]
    assert body["prompt_id"] == prompt_id_for("take-cf-1") and body["client_id"] == comfy.client_id
    g = body["prompt"]
    assert g["6"]["inputs"]["text"] == "a hummingbird hovering over a red flower"
    assert g["7"]["inputs"]["text"] == "people, text"
    assert g["9"]["inputs"]["seed"] == derived_seed("take-cf-1")
    assert (g["8"]["inputs"]["width"], g["8"]["inputs"]["height"], g["8"]["inputs"]["length"]) == (1280, 704, 121)
    assert g["11"]["inputs"]["fps"] == 24.0
    assert g["12"]["inputs"]["filename_prefix"] == "takes/take-cf-1"
    assert g["1"]["inputs"]["unet_name"] == "wan2.2_ti2v_5B_fp16.safetensors"     # untouched
    assert "5" not in g                                                          # no LoadImage for t2v
    assert (BUILTIN_WORKFLOWS / "wan22_ti2v_5b_t2v.json").read_text() == on_disk


async def test_without_negative_prompt_the_workflow_default_stays_and_user_seed_wins(comfy, fake):
    _, state = fake
    await comfy.submit(WAN, req(seed=77, duration_s=2, resolution="480p", aspect_ratio="9:16", width=480, height=854))
    g = posted_graph(state)
    assert g["7"]["inputs"]["text"].startswith("blurry, low quality")
    assert g["9"]["inputs"]["seed"] == 77
    assert (g["8"]["inputs"]["width"], g["8"]["inputs"]["height"], g["8"]["inputs"]["length"]) == (480, 832, 49)


async def test_ltx_fps_goes_to_every_mapped_input(comfy, fake):
    _, state = fake
    await comfy.submit(LTX, req(duration_s=4, resolution="480p", aspect_ratio="3:2", width=720, height=480))
    g = posted_graph(state)
    assert g["5"]["inputs"]["frame_rate"] == 24.0 and g["11"]["inputs"]["fps"] == 24.0
    assert (g["6"]["inputs"]["width"], g["6"]["inputs"]["height"], g["6"]["inputs"]["length"]) == (704, 480, 97)
    assert g["9"]["inputs"]["noise_seed"] == derived_seed("take-cf-1")
    assert g["3"]["inputs"]["text"] == "a hummingbird hovering over a red flower"


def test_frame_count_keeps_the_latent_frame_grid():
    assert frame_count(5, 24, 4) == 121      # Wan: 4n + 1
    assert frame_count(4, 24, 8) == 97       # LTX: 8n + 1
    assert frame_count(2.5, 16, 4) == 41
    assert frame_count(0.1, 24, 8) == 9      # never fewer than one step


async def test_image_to_video_uploads_first_and_uses_the_i2v_graph(comfy, fake, tmp_path):
    _, state = fake
    img = tmp_path / "start.png"
    Image.new("RGB", (320, 180), (10, 200, 120)).save(img)
    await comfy.submit(WAN, req(image=img, image_mime="image/png"))
    assert state.uploads == {"takes_take-cf-1.png": img.read_bytes()}
    assert state.requests.index("POST /upload/image") < state.requests.index("POST /prompt")
    g = posted_graph(state)
    assert g["5"] == {"class_type": "LoadImage", "inputs": {"image": "takes_take-cf-1.png"},
                      "_meta": {"title": "Start image"}}
    assert g["8"]["inputs"]["start_image"] == ["5", 0]


async def test_image_to_video_on_a_text_only_workflow_is_refused_before_sending(comfy, fake, tmp_path):
    _, state = fake
    img = tmp_path / "start.png"
    Image.new("RGB", (32, 32)).save(img)
    problems = comfy.validate(LTX, req(image=img))
    assert problems and "cannot take a source image" in problems[0]
    err = await expect_error(comfy.submit(LTX, req(image=img)))
    assert err.code == "invalid_request" and state.posts == [] and state.uploads == {}
    assert "text-to-video only" in check_request(LTX, duration_s=4, aspect_ratio="16:9", resolution="480p",
                                                 has_image=True)[0]


# -- faults on submit -----------------------------------------------------------------------------
async def test_node_errors_become_invalid_request_with_comfys_message(comfy, fake):
    _, state = fake
    state.reject_next_prompt = True
    err = await expect_error(comfy.submit(WAN, req()))
    assert err.code == "invalid_request" and not err.retryable
    assert "Prompt outputs failed validation" in err.message
    assert "node 1 (UNETLoader): Value not in list: unet_name: 'wan2.2_ti2v_5B_fp16.safetensors' not in []" in err.message


async def test_5xx_on_prompt_is_outcome_unknown_and_then_reconcile_decides(comfy, fake):
    _, state = fake
    state.fail_next_prompt = 500
    err = await expect_error(comfy.submit(WAN, req()))
    assert err.code == "outcome_unknown" and len(state.posts) == 1
    assert await comfy.reconcile(WAN, req()) is None          # nowhere: re-submitting is safe
    assert ComfyUIProvider.resubmit_safe_when_not_found
    sub = await comfy.submit(WAN, req())
    assert sub.remote_id == prompt_id_for("take-cf-1") and len(state.posts) == 2


async def test_timeout_after_queueing_is_outcome_unknown_and_reconcile_finds_the_prompt(fake):
    url, state = fake
    state.hang_next_prompt = 1.0
    p = make(url, timeout=httpx.Timeout(10.0, read=0.3))
    err = await expect_error(p.submit(WAN, req()))
    assert err.code == "outcome_unknown" and len(state.posts) == 1
    found = await p.reconcile(WAN, req())
    assert found is not None and found.remote_id == prompt_id_for("take-cf-1") and found.meta["reconciled"] == "queue"
    st = await run_to_end(p, WAN, found.remote_id, found.meta)
    assert st.state == "succeeded"
    assert (await p.reconcile(WAN, req())).meta["reconciled"] == "history"
    await p.aclose()


async def test_connect_error_is_retryable():
    p = make(f"http://127.0.0.1:{free_port()}")
    err = await expect_error(p.submit(WAN, req()))
    await p.aclose()
    assert err.code == "provider_error" and err.retryable


async def test_auth_proxy_refusal_and_credentials_in_the_url(fake, tmp_path):
    url, state = fake
    state.basic_auth = ("takes", "s3cret")
    p = make(url)
    err = await expect_error(p.submit(WAN, req()))
    assert err.code == "auth" and "COMFYUI_URL" in err.message
    await p.aclose()
    p = make(url.replace("http://", "http://takes:s3cret@"))
    sub = await p.submit(WAN, req())
    st = await run_to_end(p, WAN, sub.remote_id, sub.meta)
    assert st.state == "succeeded" and "s3cret" not in st.result_url
    await p.download(WAN, st, tmp_path / "c.mp4", max_bytes=10_000_000)
    assert (tmp_path / "c.mp4").stat().st_size > 1000
    await p.aclose()


async def test_a_proxys_429_on_prompt_is_retryable_with_its_retry_after(comfy, fake):
    """A rate-limiting proxy refused POST /prompt before ComfyUI saw it: nothing was queued, so
    asking again is safe (rate_limit, retryable, the proxy's Retry-After), unlike a 5xx."""
    _, state = fake
    state.throttle, state.retry_after = ["POST /prompt"], "3"
    err = await expect_error(comfy.submit(WAN, req()))
    assert (err.code, err.retryable, err.retry_after, err.status) == ("rate_limit", True, 3.0, 429)
    assert state.posts == [] and state.pending == []           # never reached ComfyUI
    sub = await comfy.submit(WAN, req())
    assert sub.remote_id == prompt_id_for("take-cf-1") and len(state.posts) == 1


async def test_a_proxys_429_on_poll_is_retryable_with_its_retry_after(comfy, fake):
    _, state = fake
    sub = await comfy.submit(WAN, req())
    state.throttle, state.retry_after = ["GET /history/"], "4"
    err = await expect_error(comfy.poll(WAN, sub.remote_id, sub.meta))
    assert (err.code, err.retryable, err.retry_after, err.status) == ("rate_limit", True, 4.0, 429)
    assert (await run_to_end(comfy, WAN, sub.remote_id, sub.meta)).state == "succeeded"


# -- outcomes -------------------------------------------------------------------------------------
async def test_execution_error_fails_with_the_exception_message(comfy, fake):
    _, state = fake
    state.fail_execution = "CUDA out of memory. Tried to allocate 2.00 GiB"
    sub = await comfy.submit(WAN, req())
    st = await run_to_end(comfy, WAN, sub.remote_id, sub.meta)
    assert st.state == "failed" and st.error.code == "provider_error" and not st.error.retryable
    assert "CUDA out of memory. Tried to allocate 2.00 GiB" in st.error.message
    assert "node 9, KSampler" in st.error.message


async def test_vhs_video_combine_output_under_gifs_is_found(comfy, fake):
    _, state = fake
    state.output_style = "gifs"
    sub = await comfy.submit(WAN, req())
    st = await run_to_end(comfy, WAN, sub.remote_id, sub.meta)
    assert st.state == "succeeded" and st.meta["filename"].endswith(".mp4")


async def test_a_workflow_that_saves_no_video_fails_clearly(comfy, fake):
    _, state = fake
    state.output_style = "png"
    sub = await comfy.submit(WAN, req())
    st = await run_to_end(comfy, WAN, sub.remote_id, sub.meta)
    assert st.state == "failed" and "saved no video" in st.error.message and ".png" in st.error.message


def test_find_video_prefers_output_files_over_temp_previews():
    outputs = {"3": {"images": [{"filename": "a_00001_.png", "subfolder": "", "type": "output"}]},
               "12": {"gifs": [{"filename": "prev_00001_.webm", "subfolder": "", "type": "temp"}]},
               "20": {"images": [{"filename": "final_00001_.mp4", "subfolder": "v", "type": "output"}],
                      "animated": [True]}}
    assert find_video(outputs)["filename"] == "final_00001_.mp4"
    assert find_video({"1": {"images": [{"filename": "x.png"}]}}) is None


async def test_missing_output_file_is_a_download_error(comfy, fake, tmp_path):
    _, state = fake
    sub = await comfy.submit(WAN, req())
    st = await run_to_end(comfy, WAN, sub.remote_id, sub.meta)
    state.files.clear()   # outputs deleted on the server
    err = await expect_error(comfy.download(WAN, st, tmp_path / "x.mp4", max_bytes=10_000_000))
    assert err.code == "download"


async def test_poll_5xx_is_retryable_then_it_carries_on(comfy, fake):
    _, state = fake
    sub = await comfy.submit(WAN, req())
    state.fail_next_history = 502
    err = await expect_error(comfy.poll(WAN, sub.remote_id, sub.meta))
    assert err.code == "provider_error" and err.retryable and err.status == 502
    assert (await run_to_end(comfy, WAN, sub.remote_id, sub.meta)).state == "succeeded"


async def test_a_restarted_server_that_forgot_the_prompt_fails_it(comfy, fake):
    _, state = fake
    sub = await comfy.submit(WAN, req())
    state.lose_prompts = True
    st = await comfy.poll(WAN, sub.remote_id, sub.meta)
    assert st.state == "failed" and "no longer knows" in st.error.message


# -- cancel ---------------------------------------------------------------------------------------
async def test_cancel_removes_a_pending_prompt_from_the_queue(comfy, fake):
    _, state = fake
    first = await comfy.submit(WAN, req(take_id="first"))
    second = await comfy.submit(WAN, req(take_id="second"))
    await comfy.poll(WAN, first.remote_id, first.meta)        # first starts running
    await comfy.cancel(WAN, second.remote_id, second.meta)
    assert "POST /queue" in state.requests and "POST /interrupt" not in state.requests
    assert all(item[1] != second.remote_id for item in state.pending)
    assert state.running[1] == first.remote_id


async def test_cancel_interrupts_a_running_prompt(comfy, fake):
    _, state = fake
    sub = await comfy.submit(WAN, req())
    await comfy.poll(WAN, sub.remote_id, sub.meta)            # now running
    await comfy.cancel(WAN, sub.remote_id, sub.meta)
    assert "POST /interrupt" in state.requests
    assert (await comfy.poll(WAN, sub.remote_id, sub.meta)).state == "cancelled"


# -- workflows from CATALOG_DIR -------------------------------------------------------------------
USER_TOML = """
[[model]]
id = "comfyui/my-hunyuan"
provider = "comfyui"
name = "My Hunyuan graph"
endpoint = "my_graph.json"
modes = ["t2v"]
durations = [2]
aspect_ratios = ["16:9"]
resolutions = ["480p"]
seed = true

[model.options]
workflow = "my_graph.json"
fps = 16
size_multiple = 16

[model.options.inputs]
prompt = "2.text"
seed = "4.seed"
frames = "3.length"
width = "3.width"
height = "3.height"
"""

USER_GRAPH = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "hunyuan_video.safetensors"}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
    "3": {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"width": 848, "height": 480, "length": 73,
                                                             "batch_size": 1}},
    "4": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["2", 0],
                                              "latent_image": ["3", 0], "seed": 0, "steps": 20, "cfg": 6.0,
                                              "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}},
    "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
    "6": {"class_type": "CreateVideo", "inputs": {"images": ["5", 0], "fps": 16.0}},
    "7": {"class_type": "SaveVideo", "inputs": {"video": ["6", 0], "filename_prefix": "video/mine",
                                               "format": "auto", "codec": "auto"}},
}


async def test_a_user_workflow_dropped_into_catalog_dir_runs_without_code(fake, tmp_path):
    url, state = fake
    (tmp_path / "mine.toml").write_text(USER_TOML)
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "my_graph.json").write_text(json.dumps(USER_GRAPH))
    model = load_catalog(extra_dir=tmp_path).get("comfyui/my-hunyuan")
    assert model is not None
    p = make(url, catalog_dir=tmp_path)
    r = req(duration_s=2, resolution="480p", width=854, height=480)
    assert p.validate(model, r) == []
    sub = await p.submit(model, r)
    g = posted_graph(state)
    assert g["2"]["inputs"]["text"] == r.prompt
    assert (g["3"]["inputs"]["width"], g["3"]["inputs"]["height"], g["3"]["inputs"]["length"]) == (848, 480, 33)
    assert (await run_to_end(p, model, sub.remote_id, sub.meta)).state == "succeeded"
    await p.aclose()


def test_broken_user_workflows_are_explained(tmp_path):
    (tmp_path / "mine.toml").write_text(USER_TOML.replace('seed = "4.seed"', 'seed = "4.noise_seed"'))
    (tmp_path / "my_graph.json").write_text(json.dumps(USER_GRAPH))
    model = load_catalog(extra_dir=tmp_path).get("comfyui/my-hunyuan")
    p = ComfyUIProvider(Settings(_env_file=None, comfyui_url="http://x", catalog_dir=tmp_path))
    assert p.validate(model, req()) == [
        "My Hunyuan graph: inputs.seed = '4.noise_seed': node 4 (KSampler) has no input 'noise_seed'"]
    (tmp_path / "my_graph.json").write_text(json.dumps({"nodes": [], "links": []}))
    assert "UI save file" in p.validate(model, req())[0]
    (tmp_path / "my_graph.json").unlink()
    assert "not found" in p.validate(model, req())[0]


def test_workflow_paths_cannot_climb_out_of_the_catalog(tmp_path):
    (tmp_path / "mine.toml").write_text(USER_TOML.replace('workflow = "my_graph.json"',
                                                          'workflow = "../../etc/passwd"'))
    model = load_catalog(extra_dir=tmp_path).get("comfyui/my-hunyuan")
    with pytest.raises(WorkflowError, match="not allowed"):
        load_workflow(model, tmp_path, image=False)


# -- catalog --------------------------------------------------------------------------------------
@pytest.mark.parametrize("model_id", ["comfyui/wan2.2-ti2v-5b", "comfyui/ltxv-2b-0.9.5"])
def test_builtin_entries_map_onto_their_workflows(model_id):
    model = CATALOG.get(model_id)
    for image in ([False, True] if model.supports_image else [False]):
        wf = load_workflow(model, None, image=image)
        assert {n["class_type"] for n in wf.graph.values()} <= CORE_NODES
        assert any(n["class_type"] == "SaveVideo" for n in wf.graph.values())
        assert "prompt" in wf.inputs and "seed" in wf.inputs and "frames" in wf.inputs


def test_available_only_with_a_url():
    assert not ComfyUIProvider(Settings(_env_file=None, comfyui_url=None)).available()
    assert ComfyUIProvider(Settings(_env_file=None, comfyui_url=None)).missing_keys() == ["COMFYUI_URL"]
    assert ComfyUIProvider(Settings(_env_file=None, comfyui_url="http://127.0.0.1:8188")).available()


def test_prompt_ids_are_deterministic_uuids_per_take():
    assert prompt_id_for("a") == prompt_id_for("a") != prompt_id_for("b")
    assert len(prompt_id_for("a")) == 36
