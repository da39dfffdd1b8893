"""Why a region did not answer a listing, in a few words a person can act on.

A listing that asks every region goes on without the ones that fail, but must say which and why:
"no instances" while a region did not answer would hide instances that are billed by the hour.
"""

from __future__ import annotations

from tui.aws_response import error_code
from tui.models import RegionFailure
from tui.services.errors import D2lError
from tui.services.words import shorten

MOST = 100  # characters of AWS's own words in a reason

# AWS error codes a single region answers with, in words (the full sentence goes to the log).
_CODES = {
    "AuthFailure": "credentials refused there: is the region enabled?",
    "OptInRequired": "region not enabled for the account",
    "UnauthorizedOperation": "access denied",
    "AccessDenied": "access denied",
    "RequestLimitExceeded": "throttled",
    "Throttling": "throttled",
}


def reason(exc: BaseException) -> str:
    """'connection dropped', 'no answer in time', 'could not connect', 'access denied', …"""
    import botocore.exceptions as bex

    if isinstance(exc, bex.ConnectionClosedError):
        return "connection dropped"
    if isinstance(exc, (bex.ReadTimeoutError, TimeoutError)):
        return "no answer in time"
    if isinstance(exc, (bex.EndpointConnectionError, bex.ConnectTimeoutError, ConnectionError)):
        return "could not connect"
    code = getattr(exc, "code", "") or error_code(exc)
    if code in _CODES:
        return _CODES[code]
    if isinstance(exc, bex.BotoCoreError):
        return "network error"
    if isinstance(exc, D2lError):
        return one_line(exc.what.rstrip(".")) or "see the log file"
    return f"unexpected {type(exc).__name__}; see the log file"


def one_line(text: str, most: int = MOST) -> str:
    """AWS's message as one short printable line: it sits inside a status line and a stderr line."""
    return shorten("".join(c if c.isprintable() else " " for c in text), most)


def region_failure(region: str, exc: BaseException) -> RegionFailure:
    return RegionFailure(region, reason(exc))
