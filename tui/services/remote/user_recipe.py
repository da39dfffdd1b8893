"""The user's own setup steps, from a TOML file (``~/.config/d2l-tui/recipe.toml`` or ``--recipe FILE``).

The file comes from outside: only a regular file of at most ``RECIPE_MAX_BYTES`` is read (a FIFO or
device is refused from its stat), a UTF-8 BOM is accepted, and every refusal is a sentence with its line.
The book's own steps and ``compose`` (book + user steps) are in recipe.py.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui import paths
from tui.models import RecipeStep
from tui.services.errors import InputError
from tui.services.remote.recipe import BOOK_STEP_NAMES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

log = logging.getLogger(__name__)


_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_NAME_MAX = 48
_KEYS = ("name", "title", "run", "check", "timeout", "retries", "hint")
_TIMEOUT_DEFAULT = 1800
_TIMEOUT_MAX = 86400
_RETRIES_MAX = 5
_EXAMPLE = '[[step]]\nname = "my-data"\nrun = "curl -fsSLO https://example.org/data.zip"'


def user_recipe_path() -> Path:
    """Where the user's extra steps live (run after the book's, like SkyPilot's `setup`)."""
    return paths.config_dir() / "recipe.toml"


@dataclass
class _TableLines:
    header: int  # line of the [[step]] header (1-based)
    keys: dict[str, int]  # key -> its line


_STEP_HEADER = re.compile(r"""^\s*\[\[\s*(?:step|"step"|'step')\s*\]\]""")
_STEP_SUBTABLE = re.compile(r"""^\s*\[\[?\s*(?:step|"step"|'step')\s*\.\s*["']?([A-Za-z0-9_-]+)""")
_ANY_HEADER = re.compile(r"^\s*\[")
_KEY_LINE = re.compile(r"""^\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*=""")


def _scan_lines(text: str) -> tuple[dict[str, int], list[_TableLines]]:
    """Where the top-level keys and each [[step]] table's keys are, skipping multi-line strings."""
    top: dict[str, int] = {}
    tables: list[_TableLines] = []
    current: _TableLines | None = None
    in_other_table = False
    open_quote = ""  # '"""' or "'''" while inside a multi-line string
    for number, line in enumerate(text.splitlines(), start=1):
        rest = line
        if open_quote:
            if rest.count(open_quote) % 2 == 1:
                open_quote = ""
            continue
        sub = _STEP_SUBTABLE.match(line)
        if _STEP_HEADER.match(line):
            current = _TableLines(number, {})
            tables.append(current)
            in_other_table = False
        elif sub and tables:  # [step.KEY]: a key of the latest step
            tables[-1].keys.setdefault(sub.group(1), number)
            current = None
            in_other_table = True
        elif _ANY_HEADER.match(line):
            current = None
            in_other_table = True
        else:
            m = _KEY_LINE.match(line)
            if m:
                key = next(g for g in m.groups() if g is not None)
                if current is not None:
                    current.keys.setdefault(key, number)
                elif not in_other_table:
                    top.setdefault(key, number)
        for quote in ('"""', "'''"):
            if rest.count(quote) % 2 == 1:
                open_quote = quote
                break
    return top, tables


def _decode_error(exc: ValueError, path: Path) -> InputError:
    text = str(exc)
    lineno = getattr(exc, "lineno", None)
    if not isinstance(lineno, int):
        m = re.search(r"at line (\d+)", text)
        lineno = int(m.group(1)) if m else None
    message = getattr(exc, "msg", None) or re.sub(
        r"\s*\(at (line \d+, column \d+|end of document)\)", "", text
    )
    where = f"{path}, line {lineno}" if lineno else f"{path}, at its end"
    return InputError(
        f"{where}: not valid TOML ({message}).",
        f"Fix that line; each step is a [[step]] table, e.g.\n{_EXAMPLE}",
    )


# A recipe is a few steps of shell; anything bigger is the wrong file (and isn't read whole to find out).
RECIPE_MAX_BYTES = 1 << 20
_NOT_REGULAR = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFSOCK: "a socket",
}


def _not_a_file(path: Path, mode: int) -> InputError | None:
    if stat.S_ISREG(mode):
        return None
    kind = _NOT_REGULAR.get(stat.S_IFMT(mode), "not a regular file")
    return InputError(f"The recipe file {path} is {kind}, not a file.", "Pass a TOML file's path.")


def _too_big(path: Path) -> InputError:
    return InputError(
        f"The recipe file {path} is larger than {RECIPE_MAX_BYTES // (1 << 20)} MiB, "
        "the most a recipe may be.",
        "Check that it is the right file: a recipe is a few [[step]] tables.",
    )


def _read_recipe_bytes(path: Path) -> bytes:
    """The file's bytes, refusing before reading anything that isn't a regular file of at most
    RECIPE_MAX_BYTES (a FIFO would block the open or the read forever, /dev/zero never ends)."""
    try:
        before = os.stat(path)  # follows a symlink: a link to a file is fine, to a FIFO is not
        refusal = _not_a_file(path, before.st_mode)
        if refusal is None and before.st_size > RECIPE_MAX_BYTES:
            refusal = _too_big(path)
        if refusal is not None:
            raise refusal
        # O_NONBLOCK: should it have become a FIFO since the stat, the open doesn't wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb") as file:
            refusal = _not_a_file(path, os.fstat(file.fileno()).st_mode)
            if refusal is not None:
                raise refusal
            data = file.read(RECIPE_MAX_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"There is no recipe file {path}.", "Check the path.") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError(f"Cannot read the recipe file {path}: {reason}.", "Check the file.") from None
    if len(data) > RECIPE_MAX_BYTES:  # it grew after the stat
        raise _too_big(path)
    return data


def _decode_recipe(data: bytes, path: Path) -> str:
    """UTF-8 text, with or without the BOM some editors write; anything else names its line."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(f"The recipe file {path} is saved as UTF-16.", "Save it as UTF-8 and try again.")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = _universal_newlines(data[: exc.start].decode("utf-8")).count("\n") + 1
        raise InputError(
            f"{path}, line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}).",
            "Save the file as UTF-8 and try again.",
        ) from None
    return _universal_newlines(text)


def _universal_newlines(text: str) -> str:
    """CRLF and lone CR as newlines, as reading in text mode did (and as editors save them)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def load_recipe_file(path: Path) -> tuple[RecipeStep, ...]:
    """The ``[[step]]`` tables of a TOML file as steps; any mistake is an InputError naming its line."""
    path = Path(path)
    return parse_recipe(_decode_recipe(_read_recipe_bytes(path), path), path)


def _deepest_line(text: str) -> int:
    """The line where brackets and braces nest deepest (strings not told apart: only a pointer)."""
    depth, deepest, line, at = 0, -1, 1, 1
    for char in text:
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest, at = depth, line
        elif char in "]}":
            depth -= 1
        elif char == "\n":
            line += 1
    return at


def parse_recipe(text: str, path: Path | str = "recipe.toml") -> tuple[RecipeStep, ...]:
    """Like load_recipe_file, for text already read (``path`` only names it in messages)."""
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _decode_error(exc, path) from None
    except RecursionError:
        raise InputError(
            f"{path}, line {_deepest_line(text)}: arrays or tables nested too deeply to read.",
            f"A recipe needs no nesting beyond its [[step]] tables, e.g.\n{_EXAMPLE}",
        ) from None
    except ValueError as exc:  # tomllib lets a few through, e.g. an integer too long to convert
        long_number = re.search(rf"\d{{{sys.get_int_max_str_digits() + 1},}}", text)
        if long_number is None:
            log.info("recipe %s: %s", path, exc)
            raise InputError(
                f"{path}: not valid TOML.", f"Fix the file; a step looks like\n{_EXAMPLE}"
            ) from None
        line = text.count("\n", 0, long_number.start()) + 1
        raise InputError(
            f"{path}, line {line}: a number with more digits than can be read.",
            "Shorten it (or quote it, if it is meant as text).",
        ) from None
    top, tables = _scan_lines(text)

    def fail(line: int | None, what: str, next_step: str) -> InputError:
        where = f"{path}, line {line}" if line else str(path)
        return InputError(f"{where}: {what}", next_step)

    for key in data:
        if key != "step":
            raise fail(
                top.get(key),
                f"unknown top-level key {key!r}.",
                f"Put each step in a [[step]] table:\n{_EXAMPLE}",
            )
    raw_steps = data.get("step")
    if raw_steps is None:
        raise fail(None, "defines no steps.", f"Add a [[step]] table:\n{_EXAMPLE}")
    if not isinstance(raw_steps, list) or not all(isinstance(s, dict) for s in raw_steps):
        raise fail(top.get("step"), "`step` must be [[step]] tables.", f"Write each step as:\n{_EXAMPLE}")
    if not raw_steps:
        raise fail(top.get("step"), "defines no steps.", f"Add a [[step]] table:\n{_EXAMPLE}")

    steps: list[RecipeStep] = []
    seen: dict[str, int | None] = {}
    for i, raw in enumerate(raw_steps):
        lines = tables[i] if len(tables) == len(raw_steps) else None
        header = lines.header if lines else top.get("step")

        def line_of(key: str, lines: _TableLines | None = lines, header: int | None = header) -> int | None:
            return (lines.keys.get(key) if lines else None) or header

        step = _user_step(raw, line_of, header, fail)
        if step.name in BOOK_STEP_NAMES:
            raise fail(
                line_of("name"),
                f"the step name {step.name!r} is one of the book's steps ({', '.join(BOOK_STEP_NAMES)}).",
                "Choose another name; your steps run after the book's.",
            )
        if step.name in seen:
            first = seen[step.name]
            raise fail(
                line_of("name"),
                f"a second step is named {step.name!r}"
                + (f" (the first is at line {first})." if first else "."),
                "Step names must be unique: rename one of them.",
            )
        seen[step.name] = line_of("name")
        steps.append(step)
    return tuple(steps)


_Fail = Callable[[int | None, str, str], InputError]


def _user_step(
    raw: dict[str, Any], line_of: Callable[[str], int | None], header: int | None, fail: _Fail
) -> RecipeStep:
    for key in raw:
        if key not in _KEYS:
            raise fail(
                line_of(key),
                f"unknown key {key!r} in a [[step]] table.",
                f"The keys are: {', '.join(_KEYS)}.",
            )
    name = raw.get("name")
    if name is None:
        raise fail(header, "this [[step]] has no `name`.", 'Add one, e.g. name = "my-data" (a-z, 0-9 and -).')
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > _NAME_MAX:
        raise fail(
            line_of("name"),
            f"the step name {name!r} is not a slug (a-z, 0-9 and single dashes, at most {_NAME_MAX} characters).",
            'Rename it, e.g. name = "my-data".',
        )
    run = raw.get("run")
    if run is None:
        raise fail(
            header, f"the step {name!r} has no `run` (the bash it runs).", 'Add run = "..." to that [[step]].'
        )
    if not isinstance(run, str) or not run.strip():
        raise fail(
            line_of("run"),
            f"`run` of the step {name!r} must be a non-empty string.",
            "Give it the bash to run.",
        )
    for key in ("title", "check", "hint"):
        if key in raw and not isinstance(raw[key], str):
            raise fail(
                line_of(key), f"`{key}` of the step {name!r} must be a string.", f'Write {key} = "...".'
            )
    timeout = raw.get("timeout", _TIMEOUT_DEFAULT)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= _TIMEOUT_MAX:
        raise fail(
            line_of("timeout"),
            f"timeout = {timeout!r} of the step {name!r} is not a whole number of seconds in 1..{_TIMEOUT_MAX}.",
            f"Give the seconds the step may take (default {_TIMEOUT_DEFAULT}).",
        )
    retries = raw.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= _RETRIES_MAX:
        raise fail(
            line_of("retries"),
            f"retries = {retries!r} of the step {name!r} is not a whole number in 0..{_RETRIES_MAX}.",
            "Give how many times to retry a failed run (default 0).",
        )
    title = raw.get("title") or name.replace("-", " ").capitalize()
    return RecipeStep(
        name=name,
        title=title,
        script=run if run.endswith("\n") else run + "\n",
        check=raw.get("check", ""),
        timeout_s=timeout,
        retries=retries,
        hint=raw.get("hint", "") or f"Your step {name!r} failed: its output is in the log above.",
    )
