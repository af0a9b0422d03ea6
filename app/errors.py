"""User-facing errors: raised by plain functions, turned into 4xx responses (JSON for the API,
a visible note for pages) by the web layer."""


class InputError(Exception):
    """Bad input: nothing was written."""

    status_code = 422

    def __init__(self, message: str, errors: list[str] | None = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or [message]
        if status_code:
            self.status_code = status_code


class NotFound(InputError):
    status_code = 404


class Conflict(InputError):
    status_code = 409
