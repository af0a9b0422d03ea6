"""HttpProvider: the HTTP plumbing every REST adapter shares, written once.

It carries the "never pay twice" rule (docs/providers/README.md §Never pay twice), so it lives
in one place instead of a copy per adapter:

- the create call is one POST, never retried (`create_call`, through `post_once`);
- a refused create is mapped by the adapter (`create_error`), then this class decides whether
  it proves nothing was created: a 4xx does, a 5xx only when the provider documents it as a
  refusal (`safe_create_statuses`, or `refused_safely` for refusals told by a body code). Any
  other 5xx, and a lost answer after sending, is "outcome_unknown": the job may exist;
- a 2xx create reply we cannot read is "outcome_unknown" too (`created_id`): it may be a
  queued, billable job;
- reads (poll, cancel, lookups) are safe to repeat, so their transport failures are retryable
  (`call`), and a read answered with something that is not JSON is a clear retryable error
  (`read_json`).

Adapters keep what differs: body building, status mapping and error refinement. `validate`
runs before every create in `Provider.submit` (app/providers/base.py), not in the adapters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from app.providers.base import Provider, ProviderError, error_from_response

if TYPE_CHECKING:
    from app.catalog import ModelSpec


async def post_once(client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str],
                    who: str) -> httpx.Response:
    """One create POST, never retried (no provider here has an idempotency key).

    Only a failure before the request left us (connect refused/timed out, no pooled connection)
    proves nothing was created, so only that is retryable; a timeout or dropped connection after
    sending means the job may exist and may be billed.
    """
    try:
        return await client.post(url, json=body, headers=headers)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise ProviderError("provider_error", f"could not reach {who}: {exc!r}", retryable=True) from exc
    except httpx.HTTPError as exc:
        raise ProviderError("outcome_unknown", f"the request to {who} was sent but no answer came back ({exc!r}); "
                            "the job may exist and may be billed") from exc


def json_value(resp: httpx.Response, default: Any = None) -> Any:
    """The body as JSON, or `default` when it is not JSON (error bodies often are not)."""
    try:
        return resp.json()
    except ValueError:
        return default


def json_object(resp: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object, or {} (for reading error bodies leniently)."""
    data = json_value(resp)
    return data if isinstance(data, dict) else {}


class HttpProvider(Provider):
    """Base of the REST adapters: subclasses set `base_url_setting`, `safe_create_statuses`
    (and `auth_scheme`) and the hooks `auth_headers`, `error` (and `create_error` / `refused_safely` where the provider
    answers refusals in its body), and implement `create` and `poll` with the calls below."""

    base_url_setting: ClassVar[str] = ""    # the Settings field holding the API's base URL
    auth_scheme: ClassVar[str] = "Bearer"   # Authorization: <scheme> <the first key setting>
    # 5xx answers to the create call that the provider documents as "refused, nothing was
    # created" (e.g. 503 "try again"). Every other 5xx on create leaves the outcome unknown.
    safe_create_statuses: ClassVar[frozenset[int]] = frozenset()

    @property
    def service(self) -> str:
        """The provider as messages name it."""
        return self.label or self.name

    async def auth_headers(self) -> dict[str, str]:
        """Headers every call carries: the key as `auth_scheme`, asking for JSON. A hook: Kling
        signs a JWT, Vertex fetches an OAuth token (hence async), Google sends its own header."""
        key = getattr(self.settings, self.key_settings[0]) if self.key_settings else ""
        return {"Authorization": f"{self.auth_scheme} {key}", "Accept": "application/json"}

    def url(self, path: str = "") -> str:
        """`path` on the API's base URL (the `base_url_setting` field of Settings)."""
        return str(getattr(self.settings, self.base_url_setting, None) or "").rstrip("/") + path

    def error(self, resp: httpx.Response) -> ProviderError:
        """An error answer → our code, the provider's own words kept (adapters refine)."""
        return error_from_response(resp)

    # ------------------------------------------------------------------ the create call
    def create_error(self, model: ModelSpec, resp: httpx.Response) -> ProviderError | None:
        """Why the create was refused, or None when it was accepted."""
        return self.error(resp) if resp.status_code >= 400 else None

    def refused_safely(self, resp: httpx.Response) -> bool:
        """True when a 5xx answer to the create proves nothing was created."""
        return resp.status_code in self.safe_create_statuses

    async def create_call(self, model: ModelSpec, url: str, body: dict[str, Any],
                          headers: dict[str, str] | None = None) -> httpx.Response:
        """The one create POST and the outcome-unknown rule; returns an accepted answer."""
        if headers is None:
            headers = await self.auth_headers()
        resp = await post_once(self.http, url, body, headers, self.service)
        err = self.create_error(model, resp)
        if err is None:
            return resp
        if resp.status_code >= 500 and not self.refused_safely(resp):
            raise ProviderError("outcome_unknown", f"{self.service} answered HTTP {resp.status_code} to the create "
                                f"call: {err.message}; the job may exist and may be billed", status=resp.status_code)
        raise err

    def created_id(self, resp: httpx.Response, *path: str) -> tuple[str, dict[str, Any]]:
        """(job id at `path`, the reply) from an accepted create. A reply we cannot read may
        still stand for a queued, billable job, so that is "outcome_unknown", not a retry."""
        data = json_value(resp)
        node: Any = data
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if not node or not isinstance(data, dict):
            raise ProviderError("outcome_unknown", f"{self.service} accepted the create call but the reply had no "
                                f"{'.'.join(path)}: {resp.text[:300]}; the job may exist and may be billed")
        return str(node), data

    # ------------------------------------------------------------------ reads
    async def call(self, method: str, url: str, *, what: str, headers: dict[str, str] | None = None,
                   **kwargs: Any) -> httpx.Response:
        """A poll, cancel or lookup: safe to repeat, so a transport failure is retryable."""
        if headers is None:
            headers = await self.auth_headers()
        try:
            return await self.http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ProviderError("provider_error", f"{self.service} {what} failed: {exc!r}", retryable=True) from exc

    async def get_json(self, url: str, *, what: str, **kwargs: Any) -> dict[str, Any]:
        """GET a JSON object; an error answer is raised as `error` maps it."""
        resp = await self.call("GET", url, what=what, **kwargs)
        if resp.status_code >= 400:
            raise self.error(resp)
        return self.read_json(resp, what)

    def read_json(self, resp: httpx.Response, what: str) -> dict[str, Any]:
        """A successful read's JSON object; anything else is a retryable provider error."""
        data = json_value(resp)
        if not isinstance(data, dict):
            raise ProviderError("provider_error", f"{self.service} {what} returned a non-JSON body "
                                f"(HTTP {resp.status_code}): {resp.text[:200]}", retryable=True)
        return data
