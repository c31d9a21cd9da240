"""API failures: ``<failureDetails>`` with one reason, exactly as clients parse them."""

from __future__ import annotations


class ApiFailure(Exception):
    """A request the API refuses; nothing was changed."""

    def __init__(self, reason: str, status: int = 400, **attrs: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.attrs = attrs


def parameter_error(parameter: str, error: str = "invalidValue") -> ApiFailure:
    return ApiFailure("parameterError", parameter=parameter, error=error)


def not_found(reason: str) -> ApiFailure:
    return ApiFailure(reason)
