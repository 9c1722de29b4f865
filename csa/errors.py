"""Domain exceptions: a user error is a 400 with a message people can act on."""

from __future__ import annotations


class CsaError(Exception):
    """Base of every error a service raises on purpose."""

    status = 400


class ValidationFailed(CsaError):
    """Input that breaks a rule; `problems` lists what, for each field or line."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class FieldError(ValidationFailed):
    """A rule broken by one form field, so the view can show it next to that field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotFound(CsaError):
    status = 404


class Conflict(CsaError):
    status = 409
