"""Every user-facing error, under one root: `TakesError(message, status)`.

Plain functions (app.accounts, app.boards, app.votes …) raise these; they know nothing about
HTTP beyond the status each class carries. app.web.errors is the one place that turns them into
a response: JSON `{"detail": message, "errors": [...]}` for the API and scripts, the error page
or a visible note for a browser, a redirect to the sign-in form where signing in would help.

Whatever raises one of these has written nothing (the web layer rolls the session back), so a
4xx always means "nothing happened; here is why".

Errors that never reach a user as such (ProviderError in app.providers.base, the job layer's
LeaseLost / NoSlot) are not here: they are turned into a take's status, not a response.
"""

from __future__ import annotations


class TakesError(Exception):
    """A request that cannot be done as asked. `status` is the HTTP status it answers with;
    `errors` lists every problem found (the first is `message`)."""

    status_code = 400

    def __init__(self, message: str, errors: list[str] | None = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or [message]
        if status_code:
            self.status_code = status_code

    @property
    def status(self) -> int:
        return self.status_code

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers the status needs (Retry-After, WWW-Authenticate)."""
        return {}


class InputError(TakesError):
    """Bad input (422): a field is missing, out of range or of the wrong kind."""

    status_code = 422


BadInput = InputError


class SignInRequired(TakesError):
    """401: the action needs an account; pages send the visitor to the sign-in form."""

    status_code = 401

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="takes"'}


class Unauthorized(TakesError):
    """401: the API token sent is unknown or revoked (not "sign in first": the caller tried)."""

    status_code = 401

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="takes", error="invalid_token"'}


class Forbidden(TakesError):
    """403: the visitor may see the thing but their role does not allow the action."""

    status_code = 403


class NotFound(TakesError):
    """404: no such thing — or one the visitor has no role on (app.access keeps both alike)."""

    status_code = 404


class Conflict(TakesError):
    """409: the thing is in a state that does not allow the action (archived, not ready …)."""

    status_code = 409


class Gone(TakesError):
    """410: it existed and no longer works (a revoked or expired invite)."""

    status_code = 410


class OverBudget(TakesError):
    """402: the board's spending cap would be passed; nothing was sent to a provider."""

    status_code = 402


class TooManyRequests(TakesError):
    """429: slow down; `retry_after` seconds until the limit lets the next one through."""

    status_code = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
