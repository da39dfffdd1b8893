"""The book's provisioning recipe as data, composed with the user's own steps (user_recipe.py).

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

import dataclasses
import logging
import re
import shlex
import sys
from dataclasses import dataclass
from importlib import resources

from tui.models import Recipe, RecipeStep
from tui.services.errors import InputError

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover - Python 3.10
    pass

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
# The simulated machine says whether its image has the NVIDIA driver (D2L_SIM_DRIVER, set by the demo's
# hosts from the image: "preinstalled" on a Deep Learning AMI, "absent" on plain Ubuntu; unset counts
# as preinstalled). Without it the driver step runs and the machine reboots, as the real recipe does:
# the simulated steps leave marks in D2L_SIM_STATE that the checks read, and the reboot is the demo
# host's D2L_REBOOT_COMMAND (tui/demo/bin/d2l-sim-reboot: a new boot id, the driver loaded).
_SIM_STATE = '"${D2L_SIM_STATE:-$HOME/.d2l-simulated}"'
_SIM_CHECKS = {
    "nvidia-driver": ("installed", "nvidia-smi: command not found"),
    "reboot": (
        "loaded",
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running.",
    ),
}


def _simulated_check(name: str) -> str:
    mark, failure = _SIM_CHECKS[name]
    return (
        "#!/usr/bin/env bash\n"
        "# Simulated: nvidia-smi as the image would answer it (D2L_SIM_DRIVER, D2L_SIM_STATE).\n"
        'if [ "${D2L_SIM_DRIVER:-preinstalled}" = preinstalled ]; then\n'
        "    echo 'simulated: driver present (as on a Deep Learning AMI)'\n"
        "    exit 0\n"
        "fi\n"
        "echo '+ nvidia-smi -L'\n"
        f"if [ -f {_SIM_STATE}/driver-{mark} ]; then\n"
        "    echo 'GPU 0: simulated (driver loaded)'\n"
        "    exit 0\n"
        "fi\n"
        f"echo {shlex.quote(failure)}\n"
        "exit 1\n"
    )


# Appended to the simulated scripts: what the real step leaves behind that the next check reads.
_SIMULATED_EFFECT = {
    "nvidia-driver": (
        'if [ "${D2L_SIM_DRIVER:-preinstalled}" != preinstalled ]; then\n'
        f"    mkdir -p {_SIM_STATE} && touch {_SIM_STATE}/driver-installed\n"
        "fi\n"
    ),
    # The real step only raises the runner's flag; the runner then runs D2L_REBOOT_COMMAND. Only a
    # simulated host that says how to reboot gets the flag: never `sudo systemctl reboot` here.
    "reboot": (
        'if [ -n "${D2L_REBOOT_COMMAND:-}" ]; then\n'
        '    touch "$D2L_REBOOT_FLAG"\n'
        "else\n"
        "    echo 'simulated: this host cannot reboot; going on'\n"
        "fi\n"
    ),
}


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
        "Reboot for the driver (if needed)",
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
        f"Notebooks d2l-en {BOOK_VERSION} in ~/d2l-en",
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
            sim_check = _simulated_check(b.name) if b.name in _SIM_CHECKS else ""
            result = _SIMULATED_RESULT[fw] if b.name == "gpu-smoke-test" else ""
            step = simulate_step(step, check=sim_check, result=result)
            if b.name in _SIMULATED_EFFECT:
                step = dataclasses.replace(step, script=step.script + _SIMULATED_EFFECT[b.name])
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
