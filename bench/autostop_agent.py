"""CPU time of the instance's auto-stop agent per check (issue 15's target: under 50 ms of CPU a
minute; the timer runs one check a minute, so that is per check).

Each check is the agent run as the systemd service runs it (`python3 -I -S -c "import agent…"`), its CPU
time (user + system, the process and what it waited for) read from wait4's rusage:
(a) the agent's own work: nvidia-smi answered by a shell stand-in that prints one captured
    utilization value (a real nvidia-smi's own cost, NVML start-up, is the driver's: measure it on
    a GPU instance with `--nvidia-smi $(command -v nvidia-smi)`), no Jupyter;
(b) the same with a Jupyter runtime file whose server answers /api/kernels (a real jupyter_server
    with one idle kernel), so the HTTP request counts;
(c) for scale: the bare interpreter (`python3 -I -S -c pass`) on this machine.
The state lives in a temp dir kept across runs, as on the instance.

Prints figures; not a test.

    .venv/bin/python bench/autostop_agent.py [--runs 30] [--python /usr/bin/python3] [--nvidia-smi PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AGENT = ROOT / "tui" / "data" / "autostop" / "agent.py"
# The utilization.gpu of the idle H100 capture (tui/demo/nvidia-smi), as `--format=csv,noheader,nounits` prints it.
STAND_IN = "#!/bin/sh\necho 0\n"


def cpu_ms(argv: list[str], env: dict[str, str]) -> float:
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{argv} exited {process.returncode}")
    return (usage.ru_utime + usage.ru_stime) * 1000


def figures(label: str, samples: list[float]) -> None:
    samples = sorted(samples)
    p90 = samples[int(len(samples) * 0.9) - 1]
    print(
        f"{label:<44} median {statistics.median(samples):6.1f} ms   p90 {p90:6.1f} ms   "
        f"max {samples[-1]:6.1f} ms   ({len(samples)} runs)"
    )


def start_jupyter(runtime: Path, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    import urllib.request

    token = "bench-token-0123456789"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime), JUPYTER_TOKEN=token)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", "--port=0", "--allow-root",
         f"--ServerApp.root_dir={work}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(runtime.glob("jpserver-*.json")):
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("Jupyter did not start")
        time.sleep(0.1)
    port = json.loads(next(runtime.glob("jpserver-*.json")).read_text())["port"]
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/kernels", method="POST", data=b"{}")
    request.add_header("Authorization", f"token {token}")
    urllib.request.urlopen(request, timeout=60).read()
    time.sleep(3)  # the kernel up and idle
    return server, token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--python", default="/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    )
    parser.add_argument("--nvidia-smi", default="", help="a real nvidia-smi (default: a shell stand-in)")
    parser.add_argument("--no-jupyter", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        bin_dir = base / "bin"
        bin_dir.mkdir()
        smi = bin_dir / "nvidia-smi"
        if args.nvidia_smi:
            smi.symlink_to(args.nvidia_smi)
        else:
            smi.write_text(STAND_IN)
            smi.chmod(0o755)
        (base / "config.json").write_text(json.dumps({"idle_minutes": 30}))
        runtime = base / "runtime"
        runtime.mkdir()
        env = {
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "D2L_AUTOSTOP_CONFIG": str(base / "config.json"),
            "D2L_AUTOSTOP_STATE_DIR": str(base / "state"),
            "D2L_AUTOSTOP_JUPYTER": str(runtime),
            "D2L_AUTOSTOP_SETUP": str(base / "provision"),
        }
        # As the service runs it (d2l-autostop.service): imported, so its compiled code is cached.
        agent = [
            args.python,
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path.insert(0, {str(AGENT.parent)!r}); import agent; sys.exit(agent.main())",
        ]
        print(
            f"python: {args.python}; nvidia-smi: {args.nvidia_smi or 'shell stand-in'}; CPUs: {os.cpu_count()}"
        )
        print(
            f"processes now: {sum(1 for p in os.listdir('/proc') if p.isdigit())} (the login check reads each one)"
        )
        cpu_ms(agent, env)  # warm the page cache
        figures("(a) one check, no Jupyter", [cpu_ms(agent, env) for _ in range(args.runs)])
        if not args.no_jupyter:
            server, _ = start_jupyter(runtime, base)
            try:
                figures(
                    "(b) one check, Jupyter with one idle kernel",
                    [cpu_ms(agent, env) for _ in range(args.runs)],
                )
            finally:
                server.terminate()
                server.wait(timeout=20)
        figures(
            "(c) bare interpreter (python3 -I -S -c pass)",
            [cpu_ms([args.python, "-I", "-S", "-c", "pass"], env) for _ in range(args.runs)],
        )
        print("target: under 50 ms of CPU per check (one check a minute)")


if __name__ == "__main__":
    main()
