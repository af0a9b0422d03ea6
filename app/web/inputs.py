"""What a request may carry, checked before any route sees it: no control characters in the
path, query, JSON or form fields, and no body over the limit.

- Control characters (C0 and DEL) have no place in an id, a slug, a filter or a name, and
  PostgreSQL refuses NUL in text outright (a 500 if it got that far). Paths and queries
  refuse every one; text fields allow only tab, newline and carriage return (a prompt or a
  comment is typed in a textarea). `RequestIn`, the base of every JSON request body, checks
  its strings and refuses unknown fields by name (a typo such as `duration` must not be
  silently dropped); `check_form` does the same for forms (app.web.identity.guard calls it).
- `InputLimits` (pure ASGI) counts the body's bytes as they are read and answers 413 once
  they pass MAX_BODY_BYTES — or, for a body that may carry a source image (a multipart form,
  or the JSON of POST /api/comparisons with its base64 data URL), that plus the upload limit —
  so an oversized body is never buffered whole. A Content-Length over the limit is refused
  before a byte is read.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import Query
from pydantic import BaseModel, ConfigDict, field_validator
from starlette.datastructures import FormData

from app.boards import CRITERIA
from app.errors import InputError

ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")   # tab, LF and CR are text
IMAGE_BODIES = ("/api/comparisons", "/api/suites", "/api/suites/preview")   # suites: many prompts, images


def control_message(where: str, char: str) -> str:
    return (f"{where} contains the control character U+{ord(char):04X}; "
            "control characters (such as NUL) are not allowed")


def check_text(value: str, where: str) -> str:
    """`value` unchanged, or an InputError naming `where` if it holds a control character."""
    found = TEXT_CONTROL.search(value)
    if found:
        raise InputError(control_message(where, found.group()))
    return value


def _walk(value: Any, where: str) -> None:
    if isinstance(value, str):
        check_text(value, where)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            _walk(item, where)
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(k, where)
            _walk(v, where)


# Limits declared in /openapi.json, checked by the plain functions (which give the messages):
# a slug (app.boards.SLUG_RE, or empty: made from the name), a budget, lists of take ids, criteria.
SLUG = "^$|^[a-z0-9]([a-z0-9-]{0,78}[a-z0-9])?$"
BUDGET, IDS = {"minimum": 0, "maximum": 999999999.99}, {"maxItems": 100}
CRITERIA_LIST = {"items": {"type": "string", "enum": list(CRITERIA)}}


def filled(most: int) -> dict:
    """Declared (app.web.docs) for a text the server strips and wants non-empty: at least one
    character that is not a space, at most `most`; the server's own check gives the message."""
    return {"maxLength": most, "pattern": NOT_BLANK}


# One tag in a query (?tag=): what app.tags.normalise_tag accepts, or empty (no filter, as a
# form's blank choice sends it), declared so the schema says it.
ONE_TAG = "^$|^[^,|\\x00-\\x1f\\x7f]*[^\\s,|\\x00-\\x1f\\x7f][^,|\\x00-\\x1f\\x7f]*$"
TagQ = Query(None, max_length=64, json_schema_extra={"pattern": ONE_TAG},
             description="Only comparisons with this tag (e.g. character walk); ',' and '|' separate "
                         "tags, so one tag has neither; empty: every comparison.")

NOT_BLANK = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*[^\\s\\x00-\\x1f\\x7f][^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$"


class RequestIn(BaseModel):
    """The base of every JSON request body: unknown fields are refused (by name), values are
    taken as the JSON types the schema declares (no `0` for false) and strings may not hold
    control characters."""

    model_config = ConfigDict(extra="forbid", strict=True)   # strict: 0 is not false, "4" is not 4

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value, info):
        try:
            _walk(value, "the text")
        except InputError as exc:
            raise ValueError(exc.message) from None
        return value


def check_form(form: FormData) -> None:
    """A form's field names and text values, as `RequestIn` checks JSON."""
    for key, value in form.multi_items():
        check_text(key, "a field name")
        if isinstance(value, str):
            check_text(value, key)


def _url_problem(scope) -> str | None:
    path = scope.get("path", "")
    found = ANY_CONTROL.search(path)
    if found:
        return control_message("the path", found.group())
    query = unquote_to_bytes(scope.get("query_string", b"").decode("latin-1").replace("+", " "))
    found = re.search(rb"[\x00-\x1f\x7f]", query)
    if found:
        return control_message("the query", chr(found.group()[0]))
    return None


def body_limit(scope, settings) -> int:
    headers = dict(scope.get("headers", []))
    limit = settings.max_body_bytes
    if headers.get(b"content-type", b"").startswith(b"multipart/form-data") or scope["path"] in IMAGE_BODIES:
        limit += math.ceil(settings.max_upload_bytes * 4 / 3)   # base64 grows an image by a third
        limit += math.ceil(settings.max_reference_bytes * 4 / 3)   # and a reference video (app/reference.py)
    return limit


class BodyTooLarge(Exception):
    pass


async def _answer(send, status: int, message: str) -> None:
    body = json.dumps({"detail": message, "errors": [message]}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class InputLimits:
    """Pure ASGI: control characters in the URL (422) and the body limit (413); see the module
    docstring."""

    def __init__(self, app, settings):
        self.app, self.settings = app, settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        problem = _url_problem(scope)
        if problem:
            return await _answer(send, 422, problem)
        limit = body_limit(scope, self.settings)
        too_big = f"the request body is over the limit of {limit} bytes"
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await _answer(send, 413, too_big)
        state = {"read": 0, "over": False, "started": False}

        async def counted():
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > limit:
                    state["over"] = True
                    raise BodyTooLarge(too_big)
            return message

        async def guarded_send(message):
            if state["over"]:   # whatever the app made of the cut-off body, the answer is 413
                if message["type"] == "http.response.start" and not state["started"]:
                    state["started"] = True
                    await _answer(send, 413, too_big)
                return
            state["started"] = state["started"] or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except Exception:   # BodyTooLarge, or what a body parser made of it
            if not state["over"]:
                raise
            if not state["started"]:
                await _answer(send, 413, too_big)
