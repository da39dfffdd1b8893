"""What an AWS error says about itself, read from botocore's ``response`` dict.

Below both the log file (tui/logs.py) and the services: the services import the log helpers, so
the log file must not import a service to read an error's code.
"""

from __future__ import annotations


def error_code(exc: BaseException) -> str:
    """The AWS error code (``InvalidKeyPair.NotFound``, ``Throttling``…) of a botocore ClientError, else ""."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
