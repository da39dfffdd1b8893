"""The benchmark on the instance: a one-step recipe for the setup's detached runner, in its own folder.

The step runs tui/data/bench/d2l_bench.py with the book's environment's Python (``~/d2l``), so the
run survives a dropped connection and reattaches exactly as the setup does (provision.follow_run);
its last line, ``D2L-BENCH-RESULT {json}``, is the run's figures. Each run's step carries its run id,
so the runner never takes a new run for one it already finished.

Settings the step reads from the login session (tests and --demo's hosts set them; unset on an
instance): ``D2L_BENCH_PYTHON`` (a Python other than ~/d2l's), ``D2L_BENCH_BACKEND`` (numpy for a
machine without a GPU), ``D2L_BENCH_REPLAY`` and ``D2L_BENCH_REPLAY_DELAY`` (the demo: tell a record
again, labelled simulated).
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone
from importlib import resources
from typing import TYPE_CHECKING, Any

from tui.models import Recipe, RecipeStep

if TYPE_CHECKING:
    import asyncssh

BENCH_DIR = "$HOME/.d2l-tui/bench"
STEP_NAME = "bench"
RESULT_PREFIX = "D2L-BENCH-RESULT "
# The script's exit statuses (tui/data/bench/d2l_bench.py says the same).
EXIT_NO_SETUP, EXIT_NO_GPU, EXIT_CANCELLED = 3, 4, 5
TIMEOUT_S = {True: 900, False: 3600}  # --quick, full: 8 GPUs, the data set's download included
_HEREDOC_END = "D2L_BENCH_PY"


def bench_script() -> str:
    return resources.files("tui.data").joinpath("bench").joinpath("d2l_bench.py").read_text("utf-8")


def new_run_id(instance_id: str, now: datetime | None = None) -> str:
    moment = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return f"{instance_id}-{moment}-{secrets.token_hex(3)}"


def step_script(run_id: str, *, quick: bool) -> str:
    if not run_id.replace("-", "").isalnum():
        raise ValueError(f"unsafe run id: {run_id!r}")
    script = bench_script()
    if any(line.strip() == _HEREDOC_END for line in script.splitlines()):  # a packaging mistake
        raise ValueError(f"the benchmark script contains its here-document's end word {_HEREDOC_END}")
    quick_flag = " --quick" if quick else ""
    return (
        "#!/usr/bin/env bash\n"
        f"# d2l-tui benchmark, run {run_id} (the id makes each run's step new to the runner)\n"
        'here="$(cd "$(dirname "$0")/.." && pwd)"\n'
        "# This step's process group (the runner's `timeout` made it), for a cancel: written first, so no\n"
        "# earlier run's group is ever signalled (the script writes the same number again).\n"
        'awk \'{print $5}\' "/proc/$$/stat" > "$here/bench.pgid"\n'
        'env_dir="${D2L_ENV_DIR:-$HOME/d2l}"\n'
        'python="${D2L_BENCH_PYTHON:-$env_dir/bin/python}"\n'
        'if [ ! -x "$python" ]; then\n'
        '    echo "d2l-bench: the book\'s environment ($env_dir) is not there: run the setup first."\n'
        f"    exit {EXIT_NO_SETUP}\n"
        "fi\n"
        "replay=()\n"
        'if [ -n "${D2L_BENCH_REPLAY:-}" ]; then\n'
        '    replay=(--replay "$D2L_BENCH_REPLAY" --replay-delay "${D2L_BENCH_REPLAY_DELAY:-0.5}")\n'
        "fi\n"
        "cd /tmp || exit 1  # not $HOME, where the folder ~/d2l sits beside the d2l package\n"
        f'exec "$python" - --backend "${{D2L_BENCH_BACKEND:-torch}}" --run-id {run_id}{quick_flag} '
        f'--pgid-file "$here/bench.pgid" ${{replay[@]+"${{replay[@]}}"}} <<\'{_HEREDOC_END}\'\n'
        f"{script.rstrip()}\n{_HEREDOC_END}\n"
    )


def bench_recipe(run_id: str, *, quick: bool) -> Recipe:
    title = "Benchmark (quick)" if quick else "Benchmark"
    step = RecipeStep(
        name=STEP_NAME,
        title=title,
        script=step_script(run_id, quick=quick),
        timeout_s=TIMEOUT_S[quick],
        retries=0,
        hint="The log above says what the benchmark was doing when it stopped.",
    )
    return Recipe(steps=(step,), framework="pytorch", env=(("D2L_FRAMEWORK", "pytorch"),))


def parse_result(lines: list[str]) -> dict[str, Any] | None:
    """The figures of the last result line among ``lines``; None when there is none that parses."""
    for line in reversed(lines):
        if not line.startswith(RESULT_PREFIX):
            continue
        try:
            raw = json.loads(line[len(RESULT_PREFIX) :])
        except ValueError:
            continue
        if isinstance(raw, dict) and isinstance(raw.get("run_id"), str):
            return raw
    return None


async def stop(conn: asyncssh.SSHClientConnection, remote_dir: str = BENCH_DIR) -> bool:
    """Cancel a running benchmark: SIGTERM to the script's process group (the runner's step runs in
    its own, under `timeout`), which frees the GPU and exits; the runner then records the step's end.
    True when there was one to stop."""
    result = await conn.run(
        f'R="{remote_dir}"; '
        'if [ -e "$R/lock" ] && ! flock -n "$R/lock" true && [ -s "$R/bench.pgid" ]; then '
        'kill -TERM -- "-$(cat "$R/bench.pgid")" && echo stopped; fi; true',
        check=False,
    )
    return "stopped" in str(result.stdout or "")
