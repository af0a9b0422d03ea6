"""HttpProvider's own rules (app/providers/http.py), on an in-memory transport: the adapter
tests and the fault matrix show each provider through them; this shows the rules alone."""

from __future__ import annotations

import httpx
import pytest

from app.catalog import load_catalog
from app.providers.base import GenerationRequest, ProviderError, Submission
from app.providers.http import HttpProvider
from app.settings import Settings

MODEL = load_catalog().get("demo/aurora")


class Toy(HttpProvider):
    """A provider whose create answers whatever the test scripts."""
    name = "toy"
    label = "Toy API"
    safe_create_statuses = frozenset({503})

    def validate(self, model, req):
        return ["toy refuses 7 s"] if req.duration_s == 7 else super().validate(model, req)

    async def create(self, model, req):
        resp = await self.create_call(model, "http://toy/create", {"prompt": req.prompt})
        return Submission(self.created_id(resp, "job", "id")[0])


def toy(answer) -> tuple[Toy, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    return Toy(Settings(_env_file=None), httpx.AsyncClient(transport=httpx.MockTransport(handler))), seen


def request(duration_s: float = 4) -> GenerationRequest:
    return GenerationRequest(take_id="t1", prompt="a kite", duration_s=duration_s, aspect_ratio="16:9",
                             resolution="720p", width=1280, height=720)


async def test_validate_runs_before_any_call():
    p, seen = toy(lambda r: httpx.Response(200, json={"job": {"id": "j1"}}))
    with pytest.raises(ProviderError) as err:
        await p.submit(MODEL, request(duration_s=7))
    assert err.value.code == "invalid_request" and "toy refuses 7 s" in err.value.message and seen == []
    assert (await p.submit(MODEL, request())).remote_id == "j1" and len(seen) == 1


@pytest.mark.parametrize("status, code, retryable", [
    (503, "provider_error", True),     # in safe_create_statuses: nothing was created
    (500, "outcome_unknown", False),
    (502, "outcome_unknown", False),
    (429, "rate_limit", True),
    (401, "auth", False),
    (400, "invalid_request", False),
])
async def test_refused_create(status, code, retryable):
    p, seen = toy(lambda r: httpx.Response(status, json={"message": "no"}, headers={"retry-after": "3"}))
    with pytest.raises(ProviderError) as err:
        await p.submit(MODEL, request())
    assert (err.value.code, err.value.retryable, err.value.status) == (code, retryable, status)
    assert "no" in err.value.message and len(seen) == 1
    if code == "outcome_unknown":
        assert "may be billed" in err.value.message
    if retryable:
        assert err.value.retry_after == 3


@pytest.mark.parametrize("answer", [
    httpx.Response(200, text="<html>queued</html>"),
    httpx.Response(201, json={"job": {}}),
    httpx.Response(200, json=["j1"]),
])
async def test_unreadable_accepted_create_is_outcome_unknown(answer):
    p, _ = toy(lambda r: answer)
    with pytest.raises(ProviderError) as err:
        await p.submit(MODEL, request())
    assert err.value.code == "outcome_unknown" and not err.value.retryable


async def test_transport_failures_on_create_and_on_reads():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    def drop(request):
        raise httpx.ReadTimeout("no answer", request=request)

    with pytest.raises(ProviderError) as err:
        await toy(refuse)[0].submit(MODEL, request())
    assert err.value.code == "provider_error" and err.value.retryable          # never left us
    with pytest.raises(ProviderError) as err:
        await toy(drop)[0].submit(MODEL, request())
    assert err.value.code == "outcome_unknown" and not err.value.retryable     # may have landed
    with pytest.raises(ProviderError) as err:
        await toy(drop)[0].get_json("http://toy/jobs/j1", what="status call")
    assert err.value.code == "provider_error" and err.value.retryable          # reads are safe to repeat


async def test_reads_want_a_json_object():
    p, _ = toy(lambda r: httpx.Response(200, text="upstream hiccup"))
    with pytest.raises(ProviderError) as err:
        await p.get_json("http://toy/jobs/j1", what="status call")
    assert err.value.code == "provider_error" and err.value.retryable and "non-JSON" in err.value.message
    p, _ = toy(lambda r: httpx.Response(404, json={"message": "no such job"}))
    with pytest.raises(ProviderError) as err:
        await p.get_json("http://toy/jobs/j1", what="status call")
    assert err.value.code == "invalid_request" and "no such job" in err.value.message
