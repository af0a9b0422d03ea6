"""Every fault each provider fake can inject, through the real job path: the real adapter talks
HTTP to its fake and `generate_take` drives the take to its end (in-process, SQLite).

The adapter tests (tests/test_provider_*.py) prove each adapter maps a fault to the right
ProviderError; tests/test_jobs.py proves the state machine reacts to scripted errors. Neither
proves the two agree, which is what a user sees: a fault must end as a retried success or as a
failed take carrying the provider's reason and our error code, and never as a second paid job.
What each fault must end as (docs/providers/README.md §Never pay twice):

- auth (a wrong key; ComfyUI: an auth proxy)     failed, `auth`, nothing created at the provider
- 429 on the create call, with Retry-After       ready after waiting that Retry-After; the refused
                                                 create made nothing, so one job exists
- 503 on the create call (where the adapter      ready; one job
  documents it as "nothing was created")
- other 5xx on the create call                   failed, `outcome_unknown` ("may have been billed"):
                                                 the job may exist, so it is not asked again blindly;
                                                 ComfyUI (client-chosen prompt ids): looked up, not
                                                 found, so submitted again: ready, one prompt queued
- 429 on a poll, with Retry-After                ready after waiting that Retry-After; one create
- 5xx on a poll                                  ready; one create
- moderation refusal                             failed, `moderation`, the provider's own words
- expired result URL                             failed, `download`, "expired" (the URL is fetched
                                                 right after success; a stale one is not re-fetched
                                                 and the job is never re-submitted for a new one)

Retry-After is set to 0.25 s, well above our own backoff with these settings (at most 0.12 s),
and the waits the job scheduled are recorded, so a Retry-After that is dropped anywhere between
the fake's header and the job's sleep fails the test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest

from app.jobs import generate
from app.jobs.context import JobContext
from app.jobs.generate import generate_take
from tests.fakes import serve
from tests.support import sqlite_only
from tests.support.settings import make_settings
from tests.test_jobs import get, make_take

db_url = sqlite_only.sqlite_db_url  # the `db_url` fixture, SQLite only: no dialect branches here

RETRY_AFTER = 0.25
P720 = {"duration_s": 5, "aspect_ratio": "16:9", "resolution": "720p"}


@dataclass
class Rig:
    """One provider: its model, its faults, and how to read its fake."""
    model: str
    params: dict[str, Any]
    key_setting: str | None                  # the credential the auth fault replaces with a wrong one
    faults: dict[str, Callable[[Any], None]]  # fault name -> inject it into the fake's state
    reasons: dict[str, str] = field(default_factory=dict)  # fault -> the provider's words in error_message
    creates: Callable[[Any], int] = lambda state: len(state.creates)   # create calls that reached the fake
    jobs: Callable[[Any], int] = lambda state: len(state.jobs)         # jobs it made (what is billed)
    safe_resubmit: bool = False   # reconcile proves a job missing, so an uncertain create may be re-sent


def _set(**values) -> Callable[[Any], None]:
    def inject(state):
        for name, value in values.items():
            setattr(state, name, value)
    return inject


def _script(**values) -> Callable[[Any], None]:
    """For fakes whose faults live on `state.script`."""
    def inject(state):
        _set(**values)(state.script)
    return inject


RA = f"{RETRY_AFTER:g}"

RIGS: dict[str, Rig] = {
    "fal": Rig(
        "fal/seedance-2.0", P720, "fal_key",
        {"auth": _set(), "submit_429": _set(fail_next_create=429, retry_after=RA),
         "submit_503": _set(fail_next_create=503, retry_after=RA), "submit_5xx": _set(fail_next_create=500),
         "poll_429": _set(fail_next_status=429, retry_after=RA), "poll_5xx": _set(fail_next_status=500),
         "moderation": _set(next_outcome="moderation"), "expired": _set(expire_results=True)},
        {"auth": "No user found for Key ID and Secret", "moderation": "flagged by a content checker"},
    ),
    "replicate": Rig(
        "replicate/seedance-2.0", P720, "replicate_api_token",
        {"auth": _set(), "submit_429": _set(fail_next_create=429, retry_after=RA),
         "submit_503": _set(fail_next_create=503, retry_after=RA), "submit_5xx": _set(fail_next_create=500),
         "poll_429": _set(fail_next_get=429, retry_after=RA), "poll_5xx": _set(fail_next_get=500),
         "moderation": _set(next_outcome="moderation"), "expired": _set(expire_results=True)},
        {"auth": "valid authentication token", "moderation": "flagged as sensitive"},
        jobs=lambda state: len(state.predictions),
    ),
    "google": Rig(
        "google/veo-3.1", {"duration_s": 6, "aspect_ratio": "16:9", "resolution": "720p"}, "gemini_api_key",
        {"auth": _set(), "submit_429": _set(fail_next_create=429, retry_delay=f"{RA}s"),
         "submit_503": _set(fail_next_create=503), "submit_5xx": _set(fail_next_create=500),
         "poll_429": _set(fail_next_get=429, retry_delay=f"{RA}s"), "poll_5xx": _set(fail_next_get=500),
         "moderation": _set(next_outcome="moderation"), "expired": _set(expire_results=True)},
        {"auth": "API key not valid", "moderation": "blocked this video"},
    ),
    "kling": Rig(
        "kling/kling-v3-std", P720, "kling_secret_key",
        {"auth": _script(),
         "submit_429": _script(fail_next_create=(429, 1302, "The API request is too fast, please slow down"),
                               retry_after=RA),
         "submit_5xx": _script(fail_next_create=(500, 5000, "Server internal error")),
         "poll_429": _script(fail_next_poll=(429, 1302, "The API request is too fast, please slow down"),
                             retry_after=RA),
         "poll_5xx": _script(fail_next_poll=(500, 5000, "Server internal error")),
         "moderation": _script(moderate_next_task="Failure to pass the risk control system"),
         "expired": _script(expire_results=True)},
        {"auth": "Authentication failed", "moderation": "Failure to pass the risk control system"},
        jobs=lambda state: len(state.tasks),
    ),
    "runway": Rig(
        "runway/gen4.5", P720, "runwayml_api_secret",
        {"auth": _script(),
         "submit_429": _script(fail_next_create=(429, "You have exceeded the rate limit."), retry_after=RA),
         "submit_503": _script(fail_next_create=(503, "Service temporarily unavailable.")),
         "submit_5xx": _script(fail_next_create=(500, "An unexpected error occurred.")),
         "poll_429": _script(fail_next_poll=(429, "You have exceeded the rate limit."), retry_after=RA),
         "poll_5xx": _script(fail_next_poll=(500, "An unexpected error occurred.")),
         "moderation": _script(fail_next_task=("SAFETY.INPUT.TEXT", "The prompt was flagged by content moderation.")),
         "expired": _script(expire_results=True)},
        {"auth": "The API key you provided is incorrect", "moderation": "flagged by content moderation"},
        jobs=lambda state: len(state.tasks),
    ),
    "luma": Rig(
        "luma/ray-2", P720, "lumaai_api_key",
        {"auth": _script(),
         "submit_429": _script(fail_next_create=(429, "Too many requests"), retry_after=RA),
         "submit_503": _script(fail_next_create=(503, "Service unavailable")),
         "submit_5xx": _script(fail_next_create=(500, "Internal server error")),
         "poll_429": _script(fail_next_poll=(429, "Too many requests"), retry_after=RA),
         "poll_5xx": _script(fail_next_poll=(500, "Internal server error")),
         "moderation": _script(fail_next_generation="400: prompt not allowed because advanced moderation failed"),
         "expired": _script(expire_results=True)},
        {"auth": "Invalid API key", "moderation": "advanced moderation failed"},
        jobs=lambda state: len(state.generations),
    ),
    "luma_agents": Rig(
        "luma_agents/ray-3.2", P720, "luma_agents_api_key",
        {"auth": _script(),
         "submit_429": _script(fail_next_create=(429, "Rate limit exceeded"), retry_after=RA),
         "submit_503": _script(fail_next_create=(503, "Service unavailable")),
         "submit_5xx": _script(fail_next_create=(500, "Internal server error")),
         "poll_429": _script(fail_next_poll=(429, "Rate limit exceeded"), retry_after=RA),
         "poll_5xx": _script(fail_next_poll=(500, "Internal server error")),
         "moderation": _script(fail_next_generation=("content_moderated", "The prompt was flagged by moderation.")),
         "expired": _script(expire_results=True)},
        {"auth": "Invalid or missing API key", "moderation": "flagged by moderation"},
        jobs=lambda state: len(state.generations),
    ),
    "minimax": Rig(
        "minimax/hailuo-02", {"duration_s": 6, "aspect_ratio": "16:9", "resolution": "1080p"}, "minimax_api_key",
        {"auth": _set(), "submit_429": _set(fail_next_create=429, retry_after=RA),
         "submit_5xx": _set(fail_next_create=500),
         "poll_429": _set(fail_next_query=429, retry_after=RA), "poll_5xx": _set(fail_next_query=500),
         "moderation": _set(fail_task_with=1027), "expired": _set(expire_downloads=True)},
        {"auth": "login fail", "moderation": "output video contains sensitive content"},
        jobs=lambda state: len(state.tasks),
    ),
    "ark": Rig(
        "ark/seedance-2.0", P720, "ark_api_key",
        {"auth": _set(), "submit_429": _set(fail_next_create="RateLimitExceeded.EndpointRPMExceeded", retry_after=RA),
         "submit_5xx": _set(fail_next_create="InternalServiceError"),
         "poll_429": _set(fail_next_get="RateLimitExceeded.EndpointRPMExceeded", retry_after=RA),
         "poll_5xx": _set(fail_next_get="InternalServiceError"),
         "moderation": _set(fail_task_with="OutputVideoSensitiveContentDetected"),
         "expired": _set(expire_downloads=True)},
        {"auth": "API key or AK/SK in the request is missing or invalid",
         "moderation": "output video may contain sensitive information"},
        jobs=lambda state: len(state.tasks),
    ),
    # Vertex returns the clip inline (base64), so it has no result URL to expire.
    "vertex": Rig(
        "vertex/veo-3.1", {"duration_s": 6, "aspect_ratio": "16:9", "resolution": "720p"}, "vertex_access_token",
        {"auth": _set(), "submit_429": _set(fail_next_create=429, retry_after=RA),
         "submit_503": _set(fail_next_create=503), "submit_5xx": _set(fail_next_create=500),
         "poll_429": _set(fail_next_fetch=429, retry_after=RA), "poll_5xx": _set(fail_next_fetch=500),
         "moderation": _set(next_outcome="moderation")},
        {"auth": "invalid authentication credentials", "moderation": "Responsible AI practices"},
    ),
    # ComfyUI has no key, no moderation and keeps its outputs: auth and 429 come from a proxy.
    "comfyui": Rig(
        "comfyui/wan2.2-ti2v-5b", P720, None,
        {"auth": _set(basic_auth=("takes", "s3cret")), "submit_429": _set(throttle=["POST /prompt"], retry_after=RA),
         "submit_5xx": _set(fail_next_prompt=500),
         "poll_429": _set(throttle=["GET /history/"], retry_after=RA), "poll_5xx": _set(fail_next_history=502)},
        {"auth": "HTTP 401"},
        creates=lambda state: state.requests.count("POST /prompt"),
        jobs=lambda state: state.number, safe_resubmit=True,
    ),
}


def _start(stack: ExitStack) -> dict[str, tuple[dict[str, str], Any]]:
    """Start every fake once; return, per provider, the settings that point at it and its state."""
    from tests.fakes import ark, comfyui, fal, google, kling, luma, luma_agents, minimax, replicate, runway, vertex

    def up(app) -> str:
        return stack.enter_context(serve(app))

    out: dict[str, tuple[dict[str, str], Any]] = {}
    s = fal.FalState()
    out["fal"] = ({"fal_key": s.key, "fal_queue_url": up(fal.create_app(s))}, s)
    s = replicate.ReplicateState()
    out["replicate"] = ({"replicate_api_token": s.token, "replicate_base_url": up(replicate.create_app(s))}, s)
    s = google.GoogleState()
    out["google"] = ({"gemini_api_key": s.key, "gemini_base_url": up(google.create_app(s))}, s)
    app = kling.create_app()
    out["kling"] = ({"kling_access_key": kling.ACCESS_KEY, "kling_secret_key": kling.SECRET_KEY,
                     "kling_base_url": up(app)}, app.state.fake)
    app = runway.create_app()
    out["runway"] = ({"runwayml_api_secret": runway.API_SECRET, "runway_base_url": up(app)}, app.state.fake)
    app = luma.create_app()
    out["luma"] = ({"lumaai_api_key": luma.API_KEY, "luma_base_url": up(app) + luma.PREFIX}, app.state.fake)
    app = luma_agents.create_app()
    out["luma_agents"] = ({"luma_agents_api_key": luma_agents.API_KEY,
                           "luma_agents_base_url": up(app) + luma_agents.PREFIX}, app.state.fake)
    app, s = minimax.create_app()
    out["minimax"] = ({"minimax_api_key": s.api_key, "minimax_base_url": up(app)}, s)
    app, s = ark.create_app()
    out["ark"] = ({"ark_api_key": s.api_key, "ark_base_url": up(app) + "/api/v3"}, s)
    app, s = comfyui.create_app()
    out["comfyui"] = ({"comfyui_url": up(app)}, s)
    s = vertex.VertexState()
    out["vertex"] = ({"vertex_access_token": s.token, "vertex_project": s.project, "vertex_location": s.location,
                      "vertex_base_url": up(vertex.create_app(s))}, s)
    return out


@pytest.fixture(scope="module")
def fakes():
    with ExitStack() as stack:
        yield _start(stack)


def _reset(state) -> None:
    """Back to a fresh fake, in place (the running app holds this very object)."""
    fresh = type(state)()
    for f in dataclasses.fields(state):
        setattr(state, f.name, getattr(fresh, f.name))


CASES = [pytest.param(p, f, id=f"{p}-{f}") for p, rig in RIGS.items() for f in rig.faults]


@pytest.mark.parametrize("provider, fault", CASES)
async def test_fault_ends_as_designed(provider, fault, fakes, db_url, tmp_path, monkeypatch):
    rig = RIGS[provider]
    env, state = fakes[provider]
    _reset(state)
    if fault == "auth" and rig.key_setting:
        env = {**env, rig.key_setting: "wrong-" + env[rig.key_setting]}
    settings = make_settings(db_url, tmp_path, poll_interval_s=0.02, poll_max_interval_s=0.1, take_timeout_s=20,
                             **env)
    waits: list[float] = []
    real_sleep = generate._sleep

    async def recording_sleep(ctx, take_id, seconds):
        waits.append(seconds)
        await real_sleep(ctx, take_id, seconds)

    monkeypatch.setattr(generate, "_sleep", recording_sleep)
    rig.faults[fault](state)
    ctx = JobContext.create(settings)
    try:
        tid = await make_take(ctx, rig.model, rig.params)
        result = await generate_take(ctx, tid)
        take = await get(ctx, tid)
    finally:
        await ctx.aclose()
        await ctx.db.dispose()
    creates, jobs = rig.creates(state), rig.jobs(state)
    outcome = (take.status, take.error_code, take.error_message)

    if fault in ("submit_429", "submit_503", "poll_429", "poll_5xx") or (fault == "submit_5xx" and rig.safe_resubmit):
        assert result == "ready" and take.status == "ready", outcome
        assert take.clip_key and take.duration_s > 0 and take.remote_id
        assert jobs == 1, f"{jobs} jobs at the provider: paid twice"
        assert creates == (2 if fault.startswith("submit") else 1)
        if fault.endswith("429"):
            assert RETRY_AFTER in waits, f"Retry-After {RETRY_AFTER} s not honoured; waits were {waits}"
        return

    assert result == "failed" and take.status == "failed", outcome
    assert take.finished_at is not None and take.lease_owner is None
    if fault == "auth":
        assert take.error_code == "auth", outcome
        assert jobs == 0
    elif fault == "submit_5xx":
        # the create may have landed: asked once, never again, and the user is told it may be billed
        assert take.error_code == "outcome_unknown", outcome
        assert "billed" in take.error_message, outcome
        assert creates == 1
    elif fault == "moderation":
        assert take.error_code == "moderation", outcome
        assert (creates, jobs) == (1, 1)
    elif fault == "expired":
        assert take.error_code == "download", outcome
        assert "expired" in take.error_message, outcome
        assert (creates, jobs) == (1, 1) and take.remote_id and not take.clip_key
    else:
        raise AssertionError(f"no expectation for {fault}")
    if fault in rig.reasons:
        assert rig.reasons[fault] in take.error_message, outcome


def test_every_fake_is_covered():
    """A new provider fake must join this matrix."""
    from pathlib import Path

    fakes_dir = Path(__file__).parent / "fakes"
    # not video providers: the price sources of `takes prices replicate` / `takes prices fal`
    names = {p.stem for p in fakes_dir.glob("*.py")} - {"__init__", "replicate_site", "fal_platform"}
    assert names == set(RIGS)
