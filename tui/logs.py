"""The app's log file: everything worth knowing after the fact, never on the terminal, never a secret.

The screens and the CLI show one sentence; the traceback, the AWS request id and the error code go
here. The file lives in the XDG state dir (``tui.paths.log_file()``), readable only by its owner,
and every record passes through a filter that masks credentials, tokens and private keys first,
because people attach log files to bug reports.
"""

from __future__ import annotations

import errno
import logging
import logging.handlers
import os
import re
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui import paths
from tui.aws_response import error_code

PROG = "d2l-tui"
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


def _tighten_dir(directory: Path) -> None:
    """Make our own folder 0700; never through a link, never someone else's (it isn't ours to change)."""
    try:
        st = os.lstat(directory)
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and st.st_mode & 0o077:
            os.chmod(directory, 0o700)
    except OSError:
        pass  # a folder we can't tighten still works; the files in it are 0600 all the same


def private_dir(directory: Path) -> Path:
    """``directory`` (and missing parents) made for files only the user may read: the leaf is 0700."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError as exc:  # a file where the folder should be: say that, not "File exists"
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(directory)) from exc
    _tighten_dir(directory)
    return directory


def write_private(path: Path, data: bytes) -> None:
    """Write a new file readable only by its owner (0600 whatever the umask; never through a link)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as f:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, 0o600)
        f.write(data)


def _say_on_stderr(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # no terminal to tell either


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _cannot_write(path: Path, exc: BaseException) -> str:
    return f"{PROG}: cannot write logs to {path} ({_why(exc)}); going on without a log file."


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files (the first one and each after a rollover) are 0600, and that
    gives up quietly when the disk is full or the file can't be written: one line on stderr instead
    of logging's "--- Logging error ---" traceback for every record."""

    def __init__(self, *args: Any, say: Callable[[str], None] = _say_on_stderr, **kwargs: Any) -> None:
        self.say = say
        self.broken = ""  # the sentence once writing failed; nothing is written after that
        super().__init__(*args, **kwargs)

    def _open(self) -> Any:
        # O_NONBLOCK: a FIFO at the log's path (no reader) fails at once instead of hanging the app.
        flags = (
            os.O_WRONLY
            | os.O_CREAT
            | os.O_APPEND
            | getattr(os, "O_CLOEXEC", 0)
            | getattr(os, "O_NONBLOCK", 0)
        )
        fd = os.open(self.baseFilename, flags, 0o600)
        try:
            st = os.fstat(fd)
            # An older file may have been created with the umask; a device (/dev/full, /dev/null) or
            # a file of another user is left as it is.
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                os.fchmod(fd, 0o600)
            os.set_blocking(fd, True)
        except OSError:
            os.close(fd)
            raise
        return os.fdopen(fd, self.mode.replace("w", "a"), encoding=self.encoding, errors=self.errors)

    def emit(self, record: logging.LogRecord) -> None:
        if not self.broken:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        exc = sys.exc_info()[1]
        if self.broken or not isinstance(exc, OSError):
            return  # a record that can't be formatted is lost alone; only a file that can't be written stops the log
        self.broken = _cannot_write(Path(self.baseFilename), exc or OSError("unknown error"))
        self.say(self.broken)
        self._drop_stream()

    def _drop_stream(self) -> None:
        stream, self.stream = self.stream, None  # type: ignore[assignment]
        if stream is not None:
            try:
                stream.close()  # its buffer can't be written either
            except (OSError, ValueError):
                pass

    def flush(self) -> None:
        try:
            super().flush()
        except (OSError, ValueError) as exc:
            if not self.broken:
                self.broken = _cannot_write(Path(self.baseFilename), exc)
                self.say(self.broken)
            self._drop_stream()

    def close(self) -> None:
        try:
            super().close()
        except (OSError, ValueError):
            self._drop_stream()


def working_log_file() -> Path | None:
    """The log file records are going to right now; None when there is none or it can't be written,
    so a message never points at a log that holds nothing."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _PrivateRotatingFileHandler) and not handler.broken:
            return Path(handler.baseFilename)
    return None


def setup_logging(
    path: Path | None = None, level: int = logging.INFO, *, say: Callable[[str], None] = _say_on_stderr
) -> Path | None:
    """Send the root logger to the rotating log file (dir 0700, file 0600) and nowhere else.

    Calling it again replaces the handler it installed before. Returns the log file's path, or None
    when it can't be written (a read-only home, a full disk): then ``say`` gets one line saying so,
    and the app goes on without a log file. It never raises and never prints a traceback.
    """
    path = Path(path) if path is not None else paths.log_file()
    handler: logging.Handler
    try:
        private_dir(path.parent)
        handler = _PrivateRotatingFileHandler(
            path,
            maxBytes=MAX_BYTES,
            backupCount=BACKUP_COUNT,
            encoding="utf-8",
            # AWS's words can hold lone surrogates (JSON "\udcff"): escaped, they never stop the log.
            errors="backslashreplace",
            delay=False,
            say=say,
        )
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(SecretFilter())
        written: Path | None = path
    except OSError as exc:
        say(_cannot_write(path, exc))
        # Still a handler: without one, logging's last resort would print warnings on the terminal.
        handler = logging.NullHandler()
        written = None
    handler.set_name("d2l-tui-file")

    root = logging.getLogger()
    for old in list(root.handlers):
        # Ours from an earlier call, and any handler writing to the terminal: it belongs to the UI
        # (or to the CLI's one line).
        if old.get_name() == "d2l-tui-file" or getattr(old, "stream", None) in (sys.stderr, sys.stdout):
            root.removeHandler(old)
            try:
                old.close()
            except (OSError, ValueError):
                pass
    root.addHandler(handler)
    root.setLevel(level)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    # Python warnings (deprecations from libraries) would otherwise print on stderr.
    logging.captureWarnings(True)
    return written


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
