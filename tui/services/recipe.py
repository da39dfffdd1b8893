"""The book's provisioning recipe as data, and the user's own steps from a TOML file.

The step scripts are plain bash files shipped in ``tui/data/recipe/`` (``NAME.sh`` and an optional
``NAME.check.sh``; the framework-specific steps are ``NAME-FRAMEWORK.sh``). The runner on the instance
(``tui/data/runner.sh``) skips a step whose check exits 0 and runs the others with
``bash -euo pipefail`` in ``$HOME``, with the recipe's ``env`` pairs exported.

Settings the scripts read: ``D2L_FRAMEWORK``, ``D2L_TORCH_CU118`` and ``D2L_GPU_OPEN_MODULES`` come
with the recipe; ``D2L_REBOOT_FLAG`` is set by the runner; ``D2L_ENV_DIR`` is not sent (the runner
exports values as given, without expanding ``~``): every script defaults it to ``$HOME/d2l``,
which is ``ENV_DIR`` below.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import shlex
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from tui import paths
from tui.models import Recipe, RecipeStep
from tui.services.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

log = logging.getLogger(__name__)

BOOK_VERSION = "1.0.3"
FRAMEWORKS = ("pytorch", "tensorflow", "jax", "mxnet")
DEFAULT_FRAMEWORK = "pytorch"
RETIRED = {
    "mxnet": (
        "MXNet was retired to the Apache Attic in 2023: it gets no fixes, mxnet-cu112 1.9.1 is its last "
        "GPU build and it may not run on L4, L40S or H100 GPUs. The book's other frameworks are maintained."
    ),
}
_ALIASES = {"torch": "pytorch", "tf": "tensorflow"}
_LABELS = {
    "pytorch": "PyTorch 2.0.0",
    "tensorflow": "TensorFlow 2.12.0",
    "jax": "JAX 0.4.13 and Flax 0.7.0",
    "mxnet": "MXNet 1.9.1 (retired)",
}

# Where the scripts put things on the instance (paths relative to the login user's home).
ENV_DIR = "~/d2l"
NOTEBOOKS_DIR = "~/d2l-en"
ACTIVATE = f"source {ENV_DIR}/bin/activate"
JUPYTER = f"{ENV_DIR}/bin/jupyter"

# GPU families whose GPUs need PyTorch's +cu118 build: sm_89 (L4, L40S) and sm_90+ (H100, H200, B200).
_CU118_FAMILIES = frozenset({"g6", "g6e", "g6f", "gr6", "gr6f", "p5", "p5e", "p5en"})
_CU118_PREFIXES = ("p6",)  # p6-b200, p6e-gb200, ...
# GPU families whose GPUs the open kernel modules do not cover (older than Turing): V100, M60.
_PROPRIETARY_FAMILIES = frozenset({"p3", "p3dn", "g3", "g3s"})

# Simulated steps print one line per command and pause this long (seconds) between them.
SIMULATED_DELAY = "${D2L_SIM_DELAY:-0.2}"
_SIMULATED_RESULT = {
    "pytorch": "tensor([[1., 1., 1.],\n        [1., 1., 1.]], device='cuda:0')",
    "tensorflow": "/job:localhost/replica:0/task:0/device:GPU:0\ntf.Tensor(\n[[1. 1. 1.]\n [1. 1. 1.]], "
    "shape=(2, 3), dtype=float32)",
    "jax": "gpu(id=0)\n[[1. 1. 1.]\n [1. 1. 1.]]",
    "mxnet": "[[1. 1. 1.]\n [1. 1. 1.]] @gpu(0)",
}
_SIMULATED_DRIVER_CHECK = (
    "#!/usr/bin/env bash\n"
    "# Simulated: the driver is there, as on a Deep Learning AMI, so the step is skipped.\n"
    "echo 'simulated: driver present (as on a Deep Learning AMI)'\n"
    "exit 0\n"
)


@dataclass(frozen=True)
class _BookStep:
    name: str
    title: str
    timeout_s: int
    retries: int
    hint: str
    per_framework: bool = False  # the files are NAME-FRAMEWORK.sh / NAME-FRAMEWORK.check.sh
    reboot: bool = False


# In order. Timeouts follow RECIPE.md's estimates with room for a slow mirror or apt lock waits.
_BOOK: tuple[_BookStep, ...] = (
    _BookStep(
        "base-packages",
        "System packages (curl, unzip, git)",
        900,
        1,
        "apt could not install the packages: if another apt is still running (first boot), wait a few "
        "minutes and retry; otherwise run `sudo apt-get update` on the instance and retry.",
    ),
    _BookStep(
        "nvidia-driver",
        "NVIDIA driver",
        1200,
        1,
        "The driver packages did not install: retry; on an image other than Ubuntu 22.04/24.04, launch "
        "the Deep Learning AMI instead, which has the driver.",
    ),
    _BookStep(
        "reboot",
        "Reboot to load the driver (only if needed)",
        120,
        0,
        "Reboot the instance from the instances list, then retry the provisioning.",
        reboot=True,
    ),
    _BookStep(
        "python-env",
        "Python 3.11 environment ~/d2l (uv)",
        900,
        1,
        "uv or Python 3.11 could not be downloaded: check that the instance reaches astral.sh and "
        "github.com (security group egress, a proxy), then retry.",
    ),
    _BookStep(
        "framework",
        "",  # from _LABELS
        2400,
        1,
        "The framework did not install: check free disk space (`df -h ~`) and the network, then retry; "
        "the log shows which package failed.",
        per_framework=True,
    ),
    _BookStep(
        "d2l",
        f"d2l package {BOOK_VERSION}",
        900,
        1,
        "d2l did not install: check the network and free disk space, then retry.",
    ),
    _BookStep(
        "notebooks",
        f"The book's notebooks (d2l-en {BOOK_VERSION}) in ~/d2l-en",
        900,
        1,
        f"The notebooks could not be downloaded: check that the instance reaches d2l.ai (or copy "
        f"d2l-en-{BOOK_VERSION}.zip there and unzip it into ~/d2l-en), then retry.",
    ),
    _BookStep(
        "jupyter",
        "Jupyter Notebook",
        900,
        1,
        "Jupyter did not install: check the network, then retry.",
    ),
    _BookStep(
        "gpu-smoke-test",
        "GPU test: the book's try_gpu()",
        900,
        0,
        "The framework does not see the GPU: run `nvidia-smi` on the instance; if it fails, reboot the "
        "instance and retry; if it works, the log above names the library that did not load.",
        per_framework=True,
    ),
)
BOOK_STEP_NAMES: tuple[str, ...] = tuple(s.name for s in _BOOK)


def recipe_file(filename: str) -> str:
    """The text of one shipped script (``tui/data/recipe/FILENAME``); '' when there is no such file."""
    entry = resources.files("tui.data").joinpath("recipe").joinpath(filename)
    return entry.read_text("utf-8") if entry.is_file() else ""


def shipped_scripts() -> dict[str, str]:
    """Every shipped script, by file name (for tests and for people reading what will run)."""
    folder = resources.files("tui.data").joinpath("recipe")
    return {e.name: e.read_text("utf-8") for e in folder.iterdir() if e.name.endswith(".sh")}


def normalize_framework(framework: str) -> str:
    name = (framework or DEFAULT_FRAMEWORK).strip().lower()
    name = _ALIASES.get(name, name)
    if name not in FRAMEWORKS:
        raise InputError(
            f"Unknown framework {framework!r}.",
            f"Choose one of: {', '.join(FRAMEWORKS)}.",
        )
    return name


def notebook_root(framework: str) -> str:
    """Jupyter's root folder on the instance for this framework's notebooks."""
    return f"{NOTEBOOKS_DIR}/{normalize_framework(framework)}"


def gpu_env(instance_type: str) -> dict[str, str]:
    """The GPU-dependent settings for an instance type ("" = unknown: PyPI's torch, open modules)."""
    family = instance_type.split(".", 1)[0].strip().lower()
    cu118 = family in _CU118_FAMILIES or family.startswith(_CU118_PREFIXES)
    return {
        "D2L_TORCH_CU118": "1" if cu118 else "0",
        "D2L_GPU_OPEN_MODULES": "0" if family in _PROPRIETARY_FAMILIES else "1",
    }


def _with_settings(script: str, env: dict[str, str]) -> str:
    """Name the settings a script reads in a comment after its first two lines.

    The runner keeps a finished step by a hash of its script: a changed setting (another framework,
    another GPU) must change the script so that the step runs again.
    """
    used = sorted(k for k in env if re.search(rf"\b{k}\b", script))
    if not used:
        return script
    note = "# settings: " + " ".join(f"{k}={env[k]}" for k in used) + "\n"
    lines = script.splitlines(keepends=True)
    head = 2 if len(lines) >= 2 and lines[0].startswith("#!") and lines[1].startswith("#") else 1
    return "".join(lines[:head]) + note + "".join(lines[head:])


def book_recipe(
    framework: str = DEFAULT_FRAMEWORK, *, instance_type: str = "", simulated: bool = False
) -> Recipe:
    """The book's steps for one framework on one instance type; ``simulated`` prints instead of running."""
    fw = normalize_framework(framework)
    env = {"D2L_FRAMEWORK": fw, **gpu_env(instance_type)}
    steps: list[RecipeStep] = []
    for b in _BOOK:
        base = f"{b.name}-{fw}" if b.per_framework else b.name
        script = recipe_file(f"{base}.sh")
        if not script:  # a packaging mistake, not a user's
            raise FileNotFoundError(f"tui/data/recipe/{base}.sh is missing from the package")
        check = recipe_file(f"{base}.check.sh")
        title = b.title or _LABELS[fw]
        if b.name == "framework" and fw == "pytorch" and env["D2L_TORCH_CU118"] == "1":
            title += " (+cu118 build)"
        step = RecipeStep(
            name=b.name,
            title=title,
            script=_with_settings(script, env),
            check=_with_settings(check, env) if check else "",
            timeout_s=b.timeout_s,
            retries=b.retries,
            reboot=b.reboot,
            hint=b.hint,
        )
        if simulated:
            sim_check = _SIMULATED_DRIVER_CHECK if b.name in ("nvidia-driver", "reboot") else ""
            result = _SIMULATED_RESULT[fw] if b.name == "gpu-smoke-test" else ""
            step = simulate_step(step, check=sim_check, result=result)
        steps.append(step)
    return Recipe(steps=tuple(steps), framework=fw, simulated=simulated, env=tuple(env.items()))


# --- simulation (--demo) -------------------------------------------------------------------------

_STRUCTURE = frozenset({"fi", "done", "esac", ";;", "then", "else", "do", "}", "{", ")", "("})
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")


def simulated_script(script: str, title: str = "", result: str = "") -> str:
    """A script that prints each command of ``script`` (``+ cmd``) with a short pause, and runs none.

    Comments, blank lines and bare ``fi``/``done``/``esac`` are left out; a here-document's lines
    are shown indented under the command that reads them. ``result`` is printed at the end.
    """
    out = [
        "#!/usr/bin/env bash",
        "# Simulated: prints the commands the real step runs and runs none.",
    ]
    if title.strip():
        out.append(f"# ({' '.join(title.split())})")

    def say(text: str) -> None:
        out.append(f"printf '%s\\n' {shlex.quote(text)}")

    heredoc_end = ""
    pending = ""  # a command continued with a trailing backslash
    for raw in script.splitlines():
        if heredoc_end:
            if raw.strip() == heredoc_end:
                heredoc_end = ""
            elif raw.strip():
                say("    " + raw.rstrip())
            continue
        line = raw.strip()
        if not pending and (not line or line.startswith("#") or line in _STRUCTURE):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        line, pending = pending + line, ""
        say("+ " + line)
        out.append(f'sleep "{SIMULATED_DELAY}"')
        m = _HEREDOC.search(line)
        if m:
            heredoc_end = m.group(2)
    if result:
        for text in result.splitlines():
            say(text)
    return "\n".join(out) + "\n"


def simulate_step(step: RecipeStep, *, check: str = "", result: str = "") -> RecipeStep:
    """The same step (name, title, order, limits) with a script that only prints what it would run."""
    return RecipeStep(
        name=step.name,
        title=step.title,
        script=simulated_script(step.script, step.title, result),
        check=check,
        timeout_s=step.timeout_s,
        retries=step.retries,
        reboot=step.reboot,
        hint=step.hint,
    )


# --- the user's own steps ------------------------------------------------------------------------

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


def compose(
    book: Recipe | None,
    extra: tuple[RecipeStep, ...],
    framework: str,
    *,
    simulated: bool | None = None,
) -> Recipe:
    """The book's steps then the user's (``book`` None: the user's only, as with ``--recipe FILE``).

    ``simulated`` defaults to the book's; in a simulated run the user's steps only print too.
    """
    fw = normalize_framework(framework)
    if book is not None and book.framework != fw:
        raise ValueError(f"the book recipe is for {book.framework}, not {fw}")
    sim = (book.simulated if book is not None else False) if simulated is None else simulated
    steps = book.steps if book is not None else ()
    taken = {s.name for s in steps}
    for s in extra:
        if s.name in taken:
            raise InputError(f"Two steps are named {s.name!r}.", "Rename your step.")
        taken.add(s.name)
    extra = tuple(simulate_step(s) for s in extra) if sim else tuple(extra)
    env = book.env if book is not None else (("D2L_FRAMEWORK", fw),)
    return Recipe(steps=tuple(steps) + extra, framework=fw, simulated=sim, env=env)
