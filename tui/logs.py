"""The app's log file: everything worth knowing after the fact, never on the terminal, never a secret.

The screens and the CLI show one sentence; the traceback, the AWS request id and the error code go
here. The file lives in the XDG state dir (``tui.paths.log_file()``), readable only by its owner,
and every record passes through a filter that masks credentials, tokens and private keys first,
because people attach log files to bug reports.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
from pathlib import Path
from typing import Any

from tui import paths
from tui.services.errors import error_code

MAX_BYTES = 1_000_000
BACKUP_COUNT = 3
MASK = "***"
FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"

# Libraries whose DEBUG/INFO chatter (wire dumps, connection pools) would drown the app's own lines.
_QUIET_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "asyncssh", "asyncio", "markdown_it")

_B64 = r"A-Za-z0-9/+"
# Named secrets in any of the shapes they get printed in: key=value (ini, env, query strings),
# "key": "value" (JSON), 'key': 'value' (a Python repr of a botocore dict).
_NAMED = re.compile(
    r"(?i)(\b(?:aws_secret_access_key|aws_session_token|aws_security_token|secret_?access_?key|"
    r"session_?token|x-amz-security-token|x-amz-signature|password|passwd|client_secret)"
    r"[\"']?\s*[:=]\s*[\"']?)"
    r"([^\s\"'&,;}]+)"
)
# token=… query values: Jupyter URLs (…/lab?token=abc) and presigned URLs.
_TOKEN_QUERY = re.compile(r"(?i)(\btoken=)([^\s&\"'#]+)")
# Jupyter prints "token: abc" and HTTP headers carry "Authorization: token abc" / "Bearer abc".
_AUTH_HEADER = re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:token|bearer|basic)\s+)([^\s\"']+)")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)", re.S
)
# A bare secret access key: exactly 40 base64 characters with upper, lower and digits (a SHA-1 in hex
# is lowercase only and stays readable).
_BARE_SECRET = re.compile(
    rf"(?<![{_B64}=])(?=[{_B64}]*[A-Z])(?=[{_B64}]*[a-z])(?=[{_B64}]*[0-9])[{_B64}]{{40}}(?![{_B64}=])"
)
# A bare session token (STS / SSO): hundreds of base64 characters in one run.
_BARE_TOKEN = re.compile(rf"[{_B64}]{{100,}}={{0,2}}")
# A Jupyter token by name: JUPYTER_TOKEN=…, "token": "…" (`jupyter server list --json`, the runtime
# files), token: … (Jupyter's own log). The word alone: "the client token is …" stays readable.
_JUPYTER_TOKEN = re.compile(r"(?i)(\b(?:jupyter_)?token[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}]+)")
# Secrets the app holds right now (a Jupyter token it generated or read): masked wherever they appear,
# whatever surrounds them. Added by tui.services.secrets; a set is safe to add to from any thread.
_KNOWN: set[str] = set()
# Shorter values would mask ordinary words.
_MIN_KNOWN = 8


def remember_secret(value: str) -> None:
    """Mask ``value`` in every log record from now on (a token the app generated or read)."""
    if value and len(value) >= _MIN_KNOWN:
        _KNOWN.add(value)


def mask_secrets(text: str) -> str:
    """``text`` with every secret we know the shape of replaced by ***."""
    if not text:
        return text
    for known in tuple(_KNOWN):
        if known in text:
            text = text.replace(known, MASK)
    text = _PRIVATE_KEY.sub("-----PRIVATE KEY " + MASK + "-----", text)
    text = _NAMED.sub(lambda m: m.group(1) + MASK, text)
    text = _TOKEN_QUERY.sub(lambda m: m.group(1) + MASK, text)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + MASK, text)
    text = _JUPYTER_TOKEN.sub(lambda m: m.group(1) + MASK, text)
    text = _BARE_TOKEN.sub(MASK, text)
    return _BARE_SECRET.sub(MASK, text)


class SecretFilter(logging.Filter):
    """Masks secrets in the message, its arguments and its traceback before any handler writes it.

    Attached to the handler (not a logger) so it sees the records of every library that propagate to
    the root logger too.
    """

    def __init__(self) -> None:
        super().__init__()
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = mask_secrets(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            # Format the traceback now so the formatter reuses our masked text.
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        return True


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files (the first one and each after a rollover) are 0600."""

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.chmod(self.baseFilename, 0o600)  # an older file may have been created with the umask
        return os.fdopen(fd, self.mode.replace("w", "a"), encoding=self.encoding, errors=self.errors)


def setup_logging(path: Path | None = None, level: int = logging.INFO) -> Path:
    """Send the root logger to the rotating log file (dir 0700, file 0600) and nowhere else.

    Calling it again replaces the handler it installed before. Returns the log file's path.
    """
    path = Path(path) if path is not None else paths.log_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)

    handler = _PrivateRotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8", delay=False
    )
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(SecretFilter())
    handler.set_name("d2l-tui-file")

    root = logging.getLogger()
    for old in list(root.handlers):
        # Ours from an earlier call, and any handler writing to the terminal: it belongs to the UI
        # (or to the CLI's one line).
        if old.get_name() == "d2l-tui-file" or getattr(old, "stream", None) in (sys.stderr, sys.stdout):
            root.removeHandler(old)
            old.close()
    root.addHandler(handler)
    root.setLevel(level)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    # Python warnings (deprecations from libraries) would otherwise print on stderr.
    logging.captureWarnings(True)
    return path


def request_id_of(exc: BaseException) -> str:
    """The AWS request id carried by ``exc`` or by the exception it was raised from, else ""."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        request_id = getattr(current, "request_id", "")
        if request_id:
            return str(request_id)
        response = getattr(current, "response", None)
        if isinstance(response, dict):
            meta = response.get("ResponseMetadata", {}) or {}
            headers = meta.get("HTTPHeaders", {}) or {}
            found = (
                meta.get("RequestId") or headers.get("x-amzn-requestid") or headers.get("x-amz-request-id")
            )
            if found:
                return str(found)
        current = current.__cause__ or current.__context__
    return ""


def log_exception(logger: logging.Logger, exc: BaseException, context: str) -> None:
    """Write ``context``, the error, its AWS error code and request id (when there is one) and the
    traceback to the log."""
    request_id = request_id_of(exc)
    code = getattr(exc, "code", "") or error_code(exc) or error_code(exc.__cause__ or exc)
    details = (f" [code {code}]" if isinstance(code, str) and code else "") + (
        f" [request id {request_id}]" if request_id else ""
    )
    logger.error(
        "%s: %s: %s%s",
        context,
        type(exc).__name__,
        exc,
        details,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
