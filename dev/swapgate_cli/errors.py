"""What ends a command: an error shown as ``error: <message>`` with its exit code."""

from __future__ import annotations


class CliError(Exception):
    """A failure shown as ``error: <message>`` with exit code ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class ApiError(CliError):
    """An error answer of the API: ``{"error": {"code", "message", "field"?}}``."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        text = f"{code}: {message}" + (f" (field: {field})" if field else "")
        if status == 401:
            text += " - pass --api-key or set SWAPGATE_API_KEY"
        super().__init__(text)
        self.status, self.code, self.field = status, code, field


class Unreachable(CliError):
    """No HTTP answer at all (refused, unknown host, timeout)."""
