"""What a use case raises when a request cannot be done: the kind of failure, a
machine-readable code and the fields that name the problem. No web framework here:
each entrypoint decides how a kind reads to its callers (``shared.http`` maps them to
status codes; a consumer dead-letters or skips).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """The request breaks a rule (invalid input); the base of every kind below."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.context = context

    def detail(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.context}


class NotFound(DomainError):
    """No such thing, or not one the caller may see."""

    code = "not_found"


class Conflict(DomainError):
    """The request does not fit the current state (e.g. cancelling a delivered order)."""

    code = "conflict"


class Forbidden(DomainError):
    """The caller's role or scope does not allow this."""

    code = "forbidden"


class TooManyRequests(DomainError):
    """A rate limit; ``retry_after_s`` in the context says when to come back."""

    code = "rate_limited"


class Unavailable(DomainError):
    """The service cannot say now what became of the request; the client may retry it
    (with its Idempotency-Key, the retry is answered as the original)."""

    code = "unavailable"
