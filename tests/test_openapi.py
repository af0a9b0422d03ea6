"""/openapi.json declares every JSON body: each JSON route's success response and the error
body of the 4xx statuses it answers; CSV and media routes say their media type."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def schema():
    from app.main import create_app
    from tests.support.settings import make_settings

    return create_app(make_settings("sqlite+aiosqlite:////nonexistent.db", Path("/tmp/takes-openapi"))).openapi()


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


def test_every_json_route_declares_its_response_body(schema):
    missing = []
    for method, path, op in _operations(schema):
        for status, resp in op["responses"].items():
            content = resp.get("content", {})
            if status == "204":
                assert not content, f"{method} {path}: a 204 has no body"
                continue
            if "application/json" in content and not content["application/json"].get("schema"):
                missing.append(f"{method} {path} {status}")
            if not content and not status.startswith("3"):
                missing.append(f"{method} {path} {status} (no media type)")
    assert not missing, "responses without a declared body: " + ", ".join(missing)


def test_json_bodies_are_models_not_any(schema):
    """A bare `{}` schema (a handler returning an undeclared dict) is not a contract."""
    loose = [f"{m} {p}" for m, p, op in _operations(schema)
             for st, resp in op["responses"].items()
             if resp.get("content", {}).get("application/json", {}).get("schema") in ({}, {"type": "object"})]
    assert not loose, loose


def test_error_bodies_are_declared(schema):
    error = {"$ref": "#/components/schemas/ErrorOut"}
    ops = list(_operations(schema))
    api = [(m, p, op) for m, p, op in ops if p.startswith("/api/")]
    assert len(api) > 30
    for method, path, op in api:
        fours = {s: r for s, r in op["responses"].items() if s.startswith("4")}
        assert "422" in fours, f"{method} {path} declares no error body"
        for status, resp in fours.items():
            assert resp["content"]["application/json"]["schema"] == error, (method, path, status)
    got = schema["paths"]["/api/comparisons/{comparison_id}/votes"]["post"]["responses"]
    assert {"403", "404", "409", "429"} <= set(got)
    assert schema["components"]["schemas"]["ErrorOut"]["required"] == ["detail", "errors"]


def test_csv_and_media_routes_say_their_type(schema):
    assert "text/csv" in schema["paths"]["/api/boards/{slug}/votes.csv"]["get"]["responses"]["200"]["content"]
    video = schema["paths"]["/media/takes/{take_id}/video.mp4"]["get"]["responses"]["200"]["content"]
    assert "video/mp4" in video


def test_the_token_scheme_is_documented(schema):
    assert schema["components"]["securitySchemes"]["token"]["scheme"] == "bearer"


def test_a_response_model_shapes_the_body(schema):
    take = schema["components"]["schemas"]["TakeOut"]
    assert {"id", "status", "label", "video_url"} <= set(take["properties"])
    cancel = schema["paths"]["/api/comparisons/{comparison_id}/takes/{take_id}/cancel"]["post"]
    assert cancel["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TakeOut"}
