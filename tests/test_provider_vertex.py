"""Vertex AI adapter (Veo via predictLongRunning + fetchPredictOperation, OAuth2 bearer) against
the local fake of Vertex AI and Google's token endpoint (tests/fakes/vertex.py)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from app.catalog import check_request, load_catalog
from app.providers import provider_class
from app.providers.base import ProviderError
from app.providers.vertex import VertexProvider, operation_status, predict_body, write_base64_video
from app.settings import Settings
from tests.fakes import serve, tiny_mp4
from tests.fakes.vertex import RAI_REASON, UNAUTHENTICATED, VertexState, create_app
from tests.test_provider_google import assert_playable, model, png, request, run_to_end  # noqa: F401 (png: a fixture)

CATALOG = load_catalog()
TOKEN = VertexState().token
PROJECT = VertexState().project


@pytest.fixture(scope="module")
def rsa_key():
    """A fresh RSA key for the service-account tests: (private PEM, public PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.fixture(scope="module")
def fake():
    state = VertexState()
    with serve(create_app(state)) as url:
        yield url, state


@pytest.fixture
def state(fake, rsa_key):
    _, st = fake
    st.__dict__.update(VertexState(sa_public_key=rsa_key[1]).__dict__)
    return st


def make_provider(url: str, **kw) -> VertexProvider:
    # explicit Nones so a developer's own VERTEX_* / GOOGLE_APPLICATION_CREDENTIALS never leak in
    fields = {"vertex_project": PROJECT, "vertex_base_url": url, "vertex_location": "us-central1",
              "vertex_access_token": None, "google_application_credentials": None, **kw}
    return VertexProvider(Settings(_env_file=None, **fields),
                          http=httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=True))


@pytest.fixture
async def provider(fake, state):
    p = make_provider(fake[0], vertex_access_token=TOKEN)
    yield p
    await p.aclose()


@pytest.fixture
def sa_file(tmp_path, fake, rsa_key) -> Path:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": PROJECT, "private_key_id": "k1", "private_key": rsa_key[0],
        "client_email": VertexState().sa_email, "client_id": "123", "token_uri": f"{fake[0]}/token"}))
    return path


# ---------------------------------------------------------------------- lifecycle
async def test_lifecycle_inline_video_decoded_to_file(provider, state, tmp_path):
    spec = model("vertex/veo-3.1")
    sub = await provider.submit(spec, request())
    assert sub.remote_id.startswith(f"projects/{PROJECT}/locations/us-central1/publishers/google/models/"
                                    "veo-3.1-generate-001/operations/")
    c = state.creates[0]
    assert c["version"] == "v1" and c["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert c["path"].endswith("/publishers/google/models/veo-3.1-generate-001:predictLongRunning")
    assert [(await provider.poll(spec, sub.remote_id, sub.meta)).state for _ in range(2)] == ["running", "running"]
    st = await provider.poll(spec, sub.remote_id, sub.meta)
    assert st.state == "succeeded" and st.result_url is None and st.meta == {"inline": True, "remote_id": sub.remote_id}
    assert state.fetches[0]["body"] == {"operationName": sub.remote_id}

    dest = tmp_path / "veo.mp4"
    await provider.download(spec, st, dest, 5_000_000)
    assert dest.read_bytes() == tiny_mp4()
    assert_playable(dest)
    assert not list(tmp_path.glob("*.part"))


async def test_download_cap_and_not_a_video(provider, state, tmp_path):
    spec = model("vertex/veo-3.1-fast")
    sub = await provider.submit(spec, request())
    st = await run_to_end(provider, spec, sub)
    with pytest.raises(ProviderError) as err:
        await provider.download(spec, st, tmp_path / "small.mp4", 100)
    assert err.value.code == "download" and "cap" in err.value.message and not (tmp_path / "small.mp4").exists()

    state.next_outcome = "not_video"
    sub = await provider.submit(spec, request())
    st = await run_to_end(provider, spec, sub)
    with pytest.raises(ProviderError) as err:
        await provider.download(spec, st, tmp_path / "html.mp4", 5_000_000)
    assert err.value.code == "download" and "not a video" in err.value.message
    assert not (tmp_path / "html.mp4").exists() and not list(tmp_path.glob("*.part"))


def test_write_base64_video_chunks_and_refuses_garbage(tmp_path):
    import base64

    big = tiny_mp4() * 40  # several decode chunks
    assert write_base64_video(base64.b64encode(big).decode(), tmp_path / "a.mp4", 10_000_000) == len(big)
    assert (tmp_path / "a.mp4").read_bytes() == big
    with pytest.raises(ProviderError, match="not valid base64"):
        write_base64_video("AAAA!!!!" * 8, tmp_path / "b.mp4", 10_000_000)


# ---------------------------------------------------------------------- request mapping
async def test_mapping_text_to_video(provider, state):
    await provider.submit(model("vertex/veo-3.1"), request(duration_s=6, aspect_ratio="9:16", resolution="1080p",
                                                           negative_prompt="cartoon", seed=4, audio=False))
    assert state.creates[0]["body"] == {
        "instances": [{"prompt": "a lighthouse in a storm, waves crashing"}],
        "parameters": {"aspectRatio": "9:16", "resolution": "1080p", "durationSeconds": 6, "sampleCount": 1,
                       "generateAudio": False, "negativePrompt": "cartoon", "seed": 4}}


async def test_mapping_image_to_video_with_audio(provider, state, png):
    await provider.submit(model("vertex/veo-3.1-fast"), request(image=png, image_mime="image/png", audio=True,
                                                                duration_s=4))
    body = state.creates[0]["body"]
    inst = body["instances"][0]
    assert inst["image"]["mimeType"] == "image/png" and inst["image"]["bytesBase64Encoded"].startswith("iVBOR")
    assert body["parameters"] == {"aspectRatio": "16:9", "resolution": "720p", "durationSeconds": 4,
                                  "sampleCount": 1, "generateAudio": True}
    assert state.creates[0]["model"] == "veo-3.1-fast-generate-001"


# ---------------------------------------------------------------------- faults
@pytest.mark.parametrize("status,code,retryable,words", [
    (400, "moderation", False, "Responsible AI"),
    (401, "auth", False, "invalid authentication credentials"),
    (403, "auth", False, "Vertex AI API has not been used"),
    (429, "rate_limit", True, "Quota exceeded"),
    (503, "provider_error", True, "currently unavailable"),
    (500, "outcome_unknown", False, "Internal error"),
])
async def test_submit_faults(provider, state, status, code, retryable, words):
    state.fail_next_create = status
    with pytest.raises(ProviderError) as err:
        await provider.submit(model("vertex/veo-3.1"), request())
    assert (err.value.code, err.value.retryable) == (code, retryable)
    assert words in err.value.message and len(state.creates) == 1
    if status == 429:
        assert err.value.retry_after == 7  # the Retry-After header


async def test_wrong_token_is_auth(fake, state):
    p = make_provider(fake[0], vertex_access_token="ya29.expired")
    try:
        with pytest.raises(ProviderError) as err:
            await p.submit(model("vertex/veo-3.1"), request())
        assert err.value.code == "auth" and err.value.message == UNAUTHENTICATED and state.jobs == {}
    finally:
        await p.aclose()


async def test_wrong_project_is_auth_and_retired_model_is_invalid(fake, state):
    from dataclasses import replace

    p = make_provider(fake[0], vertex_access_token=TOKEN, vertex_project="someone-else")
    try:
        with pytest.raises(ProviderError) as err:
            await p.submit(model("vertex/veo-3.1"), request())
        assert err.value.code == "auth" and "aiplatform.endpoints.predict" in err.value.message
    finally:
        await p.aclose()
    p = make_provider(fake[0], vertex_access_token=TOKEN)
    try:
        with pytest.raises(ProviderError) as err:
            await p.submit(replace(model("vertex/veo-3.1"), endpoint="veo-3.0-generate-001"), request())
        assert err.value.code == "invalid_request" and "was not found" in err.value.message
    finally:
        await p.aclose()


async def test_submit_hang_is_outcome_unknown(provider, state):
    state.fail_next_create, state.hang_s = "hang", 0.6
    await provider.http.aclose()
    provider._http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=0.2))  # the answer comes after our read timeout
    with pytest.raises(ProviderError) as err:
        await provider.submit(model("vertex/veo-3.1"), request())
    assert err.value.code == "outcome_unknown" and len(state.creates) == 1 and len(state.jobs) == 1


async def test_rai_filter_is_terminal_moderation(provider, state):
    spec = model("vertex/veo-3.1")
    state.next_outcome = "moderation"
    sub = await provider.submit(spec, request())
    st = await run_to_end(provider, spec, sub)
    assert st.state == "failed" and st.error.code == "moderation" and st.error.message == RAI_REASON


@pytest.mark.parametrize("outcome,code,words", [
    ("error", "provider_error", "internal error"),
    ("too_large", "invalid_request", "output storage uri is required"),
    ("gcs", "download", "gs://takes-bucket/"),
])
async def test_operation_failures(provider, state, outcome, code, words):
    spec = model("vertex/veo-3.1")
    state.next_outcome = outcome
    sub = await provider.submit(spec, request())
    st = await run_to_end(provider, spec, sub)
    assert st.state == "failed" and st.error.code == code and words in st.error.message
    if outcome == "too_large":
        assert "Cloud Storage URI" in st.error.message
    if outcome == "gcs":
        assert "not supported" in st.error.message


@pytest.mark.parametrize("status,code", [(429, "rate_limit"), (500, "provider_error"), (503, "provider_error")])
async def test_poll_transient_errors_retryable(provider, state, status, code):
    spec = model("vertex/veo-3.1")
    sub = await provider.submit(spec, request())
    state.fail_next_fetch = status
    with pytest.raises(ProviderError) as err:
        await provider.poll(spec, sub.remote_id, sub.meta)
    assert err.value.retryable and err.value.code == code
    if status == 429:
        assert err.value.retry_after == 7
    assert (await provider.poll(spec, sub.remote_id, sub.meta)).state == "running"


async def test_unknown_operation_is_not_retried(provider, state):
    spec = model("vertex/veo-3.1")
    name = f"projects/{PROJECT}/locations/us-central1/publishers/google/models/veo-3.1-generate-001/operations/nope"
    with pytest.raises(ProviderError) as err:
        await provider.poll(spec, name, {})
    assert err.value.code == "provider_error" and not err.value.retryable and err.value.status == 404


async def test_cancel_is_a_no_op(provider, state):
    spec = model("vertex/veo-3.1")
    sub = await provider.submit(spec, request())
    await provider.cancel(spec, sub.remote_id, sub.meta)
    assert len(state.fetches) == 0 and len(state.creates) == 1


def test_status_without_done_is_running():
    assert operation_status({"name": "x"}, "x").state == "running"
    assert operation_status({"name": "x", "done": True, "response": {}}, "x").error.code == "provider_error"


# ---------------------------------------------------------------------- OAuth2: service account / authorized user
async def test_service_account_token_signed_exchanged_and_cached(fake, state, sa_file, tmp_path):
    p = make_provider(fake[0], google_application_credentials=sa_file)
    try:
        spec = model("vertex/veo-3.1")
        sub = await p.submit(spec, request())
        await p.submit(spec, request())
        st = await run_to_end(p, spec, sub)
        assert st.state == "succeeded"
        assert len(state.token_requests) == 1  # cached for the hour
        assert state.token_requests[0]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        issued = next(iter(state.issued))
        assert state.creates[0]["headers"]["authorization"] == f"Bearer {issued}"

        import jwt

        header = jwt.get_unverified_header(state.token_requests[0]["assertion"])
        assert header["alg"] == "RS256" and header["kid"] == "k1"

        # a token revoked before its expiry: the poll drops it, fetches a new one and polls again
        state.revoke_tokens()
        st = await p.poll(spec, sub.remote_id, sub.meta)
        assert st.state == "succeeded" and len(state.token_requests) == 2

        await p.download(spec, st, tmp_path / "sa.mp4", 5_000_000)
        assert_playable(tmp_path / "sa.mp4")
    finally:
        await p.aclose()


async def test_service_account_token_refreshed_near_expiry(fake, state, sa_file):
    state.token_expires_in = 60  # inside the 5-minute margin: every call refreshes
    p = make_provider(fake[0], google_application_credentials=sa_file)
    try:
        await p.submit(model("vertex/veo-3.1"), request())
        await p.submit(model("vertex/veo-3.1"), request())
        assert len(state.token_requests) == 2
    finally:
        await p.aclose()


async def test_service_account_with_wrong_key_is_auth_before_any_create(fake, state, sa_file):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    data = json.loads(sa_file.read_text())
    sa_file.write_text(json.dumps({**data, "private_key": other}))
    p = make_provider(fake[0], google_application_credentials=sa_file)
    try:
        with pytest.raises(ProviderError) as err:
            await p.submit(model("vertex/veo-3.1"), request())
        assert err.value.code == "auth" and "Invalid JWT Signature." in err.value.message
        assert state.creates == []
    finally:
        await p.aclose()


async def test_authorized_user_refresh_token(fake, state, tmp_path):
    path = tmp_path / "adc.json"
    path.write_text(json.dumps({"type": "authorized_user", "client_id": "cid.apps.googleusercontent.com",
                                "client_secret": "secret", "refresh_token": state.refresh_token,
                                "token_uri": f"{fake[0]}/token"}))
    p = make_provider(fake[0], google_application_credentials=path)
    try:
        await p.submit(model("vertex/veo-3.1"), request())
        assert state.token_requests[0]["grant_type"] == "refresh_token" and len(state.creates) == 1
    finally:
        await p.aclose()


async def test_unreadable_or_unsupported_credentials(fake, state, tmp_path):
    missing = make_provider(fake[0], google_application_credentials=tmp_path / "nope.json")
    ext = tmp_path / "ext.json"
    ext.write_text(json.dumps({"type": "external_account"}))
    unsupported = make_provider(fake[0], google_application_credentials=ext)
    for p, words in ((missing, "could not be read"), (unsupported, "'external_account' are not supported")):
        try:
            with pytest.raises(ProviderError) as err:
                await p.submit(model("vertex/veo-3.1"), request())
            assert err.value.code == "auth" and words in err.value.message
        finally:
            await p.aclose()
    assert state.creates == []


# ---------------------------------------------------------------------- the official SDK drives the fake
def test_google_genai_vertex_sdk_against_fake(fake, state, png):
    """google-genai in Vertex mode (its only mode that still creates Veo jobs): generate_videos and
    operations.get against the fake, and the SDK's request body equals ours for the same request."""
    import google.oauth2.credentials
    from google import genai
    from google.genai import types

    url = fake[0]
    client = genai.Client(vertexai=True, project=PROJECT, location="us-central1",
                          credentials=google.oauth2.credentials.Credentials(token=TOKEN),
                          http_options=types.HttpOptions(base_url=url, api_version="v1"))
    image = types.Image(image_bytes=png.read_bytes(), mime_type="image/png")
    op = client.models.generate_videos(
        model="veo-3.1-fast-generate-001",
        source=types.GenerateVideosSource(prompt="a lighthouse in a storm, waves crashing", image=image),
        config=types.GenerateVideosConfig(aspect_ratio="9:16", resolution="1080p", duration_seconds=6,
                                          generate_audio=True, negative_prompt="cartoon", seed=4,
                                          number_of_videos=1))
    assert op.name.startswith(f"projects/{PROJECT}/locations/us-central1/publishers/google/models/"
                              "veo-3.1-fast-generate-001/operations/")
    sdk_body = state.creates[0]["body"]
    ours = predict_body(model("vertex/veo-3.1-fast"), request(image=png, image_mime="image/png", aspect_ratio="9:16",
                                                              resolution="1080p", duration_s=6, audio=True,
                                                              negative_prompt="cartoon", seed=4))
    assert ours == sdk_body
    op = client.operations.get(op)
    assert not op.done
    while not op.done:
        op = client.operations.get(op)
    video = op.response.generated_videos[0].video
    assert video.video_bytes == tiny_mp4() and video.mime_type == "video/mp4"
    assert state.fetches[-1]["body"] == {"operationName": op.name}

    state.next_outcome = "moderation"
    op = client.models.generate_videos(model="veo-3.1-generate-001",
                                       source=types.GenerateVideosSource(prompt="x"))
    for _ in range(3):
        op = client.operations.get(op)
    assert op.done and op.response.rai_media_filtered_count == 1
    assert op.response.rai_media_filtered_reasons == [RAI_REASON]


def test_google_auth_service_account_against_fake_token_endpoint(fake, state, sa_file):
    """google-auth's own service-account flow gets a token from the fake's endpoint, so the fake
    checks the assertion the way Google's client builds it (and our adapter must match it)."""
    import google.auth.transport.requests
    from google.oauth2 import service_account

    creds = service_account.Credentials.from_service_account_file(
        str(sa_file), scopes=["https://www.googleapis.com/auth/cloud-platform"])
    creds.refresh(google.auth.transport.requests.Request())
    assert creds.token in state.issued and creds.valid


# ---------------------------------------------------------------------- catalog and availability
def test_catalog_capabilities():
    for mid, endpoint in (("vertex/veo-3.1", "veo-3.1-generate-001"), ("vertex/veo-3.1-fast", "veo-3.1-fast-generate-001")):
        spec = model(mid)
        assert spec.provider == "vertex" and spec.endpoint == endpoint and spec.status == "live"
        assert spec.durations == (4, 6, 8) and spec.aspect_ratios == ("16:9", "9:16")
        assert spec.resolutions == ("720p", "1080p") and spec.modes == ("t2v", "i2v")
        assert (spec.audio, spec.seed, spec.negative_prompt) == ("optional", True, True)
        assert spec.price_per_second is None and spec.price_source.startswith("not confirmed")
    errs = check_request(model("vertex/veo-3.1"), duration_s=5, aspect_ratio="1:1", resolution="4k", has_image=False)
    assert errs == ["Veo 3.1 (Vertex AI) does not support 5 s; it accepts 4, 6, 8 s",
                    "Veo 3.1 (Vertex AI) does not support aspect ratio 1:1; it accepts 16:9, 9:16",
                    "Veo 3.1 (Vertex AI) does not support 4k; it accepts 720p, 1080p"]
    assert provider_class("vertex") is VertexProvider


def test_available_with_project_and_credentials(tmp_path, monkeypatch):
    for var in ("VERTEX_PROJECT", "VERTEX_ACCESS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS", "VERTEX_LOCATION",
                "VERTEX_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    def p(**kw):
        return VertexProvider(Settings(_env_file=None, **kw))

    assert p().missing_keys() == ["VERTEX_PROJECT", "VERTEX_ACCESS_TOKEN or GOOGLE_APPLICATION_CREDENTIALS"]
    assert p(vertex_project="x").missing_keys() == ["VERTEX_ACCESS_TOKEN or GOOGLE_APPLICATION_CREDENTIALS"]
    assert not p(vertex_access_token="t").available()
    assert p(vertex_project="x", vertex_access_token="t").available()
    assert p(vertex_project="x", google_application_credentials=tmp_path / "sa.json").available()
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
    assert p(vertex_project="x").missing_keys() == ["VERTEX_ACCESS_TOKEN or GOOGLE_APPLICATION_CREDENTIALS"]
    assert p(vertex_project="x").url() == "https://us-central1-aiplatform.googleapis.com"
    assert p(vertex_project="x", vertex_location="global").url() == "https://aiplatform.googleapis.com"
    assert p(vertex_project="x", vertex_location="europe-west4").url() == "https://europe-west4-aiplatform.googleapis.com"
