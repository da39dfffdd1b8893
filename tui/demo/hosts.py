"""The simulated instances' SSH servers: one LoopbackHost per instance, started when first reached.

Each gets its own sandbox HOME, so two demo instances have separate setups; GetConsoleOutput
shows each one's host key (tui.demo.ssh_host.console_hook), so the app pins it exactly as it
would a real instance's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tui.demo.bench_replay import bench_environment
from tui.demo.ssh_host import LoopbackHost
from tui.models import Instance

log = logging.getLogger(__name__)
# Programs the simulated instance has on its PATH ahead of the system's (a replaying nvidia-smi, …).
DEMO_BIN = Path(__file__).resolve().parent / "bin"
# What DEMO_BIN's `shutdown` leaves in the agent's root for the host's timer to act on.
SHUTDOWN_REQUEST = "shutdown-requested"


class DemoHosts:
    """``agent_minute_s``: run each running host's auto-stop agent as its systemd timer would, with
    a minute this many seconds (the demo: 1, so a 30-minute idle stop comes after 30 s); None: the
    agent runs only when the app changes its setting (tests that must not be stopped under them)."""

    def __init__(self, root: Path | None = None, agent_minute_s: float | None = None) -> None:
        self.agent_minute_s = agent_minute_s
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._environments: dict[str, dict[str, str]] = {}
        self._booted_at: dict[str, float] = {}  # when each host last started: its uptime's zero
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="d2l-demo-hosts-")
            root = Path(self._tmp.name)
        self.root = root
        self.hosts: dict[str, LoopbackHost] = {}
        self._lock = asyncio.Lock()

    def host_for_instance(self, instance_id: str) -> LoopbackHost | None:
        return self.hosts.get(instance_id)

    async def endpoint(self, instance: Instance, key_path: Path | None) -> tuple[str, int]:
        async with self._lock:
            host = self.hosts.get(instance.instance_id)
            if host is None:
                home = self.root / instance.instance_id / "ubuntu"
                autostop = autostop_environment(home, self.agent_minute_s)
                self._environments[instance.instance_id] = environment = {
                    **_gpu_environment(instance.instance_type),
                    **machine_environment(home, image_has_driver(instance.region, instance.image_id)),
                    **autostop,
                    **bench_environment(home, instance.instance_type),
                    **_pace_environment(),
                }
                host = LoopbackHost(
                    _public_key(key_path), home=home, extra_path=DEMO_BIN, environment=environment
                )
                await asyncio.to_thread(run_user_data, instance, autostop)
                self.hosts[instance.instance_id] = host
            if not host.running:
                if host.port:  # it ran before and was stopped: this start is a new boot
                    _new_boot(self.root / instance.instance_id / "ubuntu")
                await host.start()
                self._booted_at[instance.instance_id] = time.time()
            timer = self._timers.get(instance.instance_id)
            if self.agent_minute_s is not None and (timer is None or timer.done()):
                self._timers[instance.instance_id] = asyncio.create_task(self._agent_timer(instance, host))
        return "127.0.0.1", host.port

    async def _agent_timer(self, instance: Instance, host: LoopbackHost) -> None:
        """The agent's timer on the simulated machine; its `shutdown` (DEMO_BIN's) stops the instance
        in the simulated cloud, as InstanceInitiatedShutdownBehavior=stop makes EC2 do."""
        assert self.agent_minute_s is not None
        home = self.root / instance.instance_id / "ubuntu"
        env = {
            **os.environ,
            **self._environments[instance.instance_id],
            "HOME": str(home),
            "PATH": f"{DEMO_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        }
        requested = Path(env["D2L_AUTOSTOP_ROOT"]) / SHUTDOWN_REQUEST
        while host.running:
            await asyncio.sleep(self.agent_minute_s)
            booted_at = self._booted_at.get(instance.instance_id, time.time())
            Path(env["D2L_AUTOSTOP_UPTIME_FILE"]).write_text(f"{time.time() - booted_at:.2f} 0.00\n")
            if Path(env["D2L_AUTOSTOP_CONFIG"]).exists():
                await asyncio.to_thread(_run_agent, env)
            if requested.exists():
                requested.unlink()
                log.info("demo host %s: the auto-stop agent shut it down", instance.instance_id)
                await asyncio.to_thread(_stop_in_cloud, instance)
                await host.stop()
                return

    async def stop(self) -> None:
        """Stop the servers and any setup run still going in a sandbox: nothing outlives the demo."""
        for timer in self._timers.values():
            timer.cancel()
        for instance_id in self.hosts:
            home = self.root / instance_id / "ubuntu"
            _stop_run(home / ".d2l-tui" / "provision" / "runner.pid")
            _stop_run(home / ".d2l-tui" / "bench" / "runner.pid")
            _stop_run(home / ".d2l-tui" / "bench" / "bench.pgid")  # the script runs in its own group
            _stop_jupyter(home)
        for host in self.hosts.values():
            if host.running:
                await host.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


def _gpu_environment(instance_type: str) -> dict[str, str]:
    """The replaying nvidia-smi shows the instance type's GPUs (captures of that model, that many;
    a test's control file can still set another profile), busy only while a training process holds
    them, as on AWS (tui/demo/gpu_load.py)."""
    return {"D2L_FAKE_NVIDIA_SMI_INSTANCE_TYPE": instance_type, "D2L_FAKE_NVIDIA_SMI_LOAD": "follow"}


def _pace_environment() -> dict[str, str]:
    """The simulated setup's pause between the commands it prints (recipe.py's D2L_SIM_DELAY, 0.2 s
    unless set): a D2L_SIM_DELAY set here reaches the simulated machine's shells, whose environment
    is otherwise their own (D2L_SIM_DELAY=0 d2l-tui --demo, or a test, runs the setup at full speed)."""
    delay = os.environ.get("D2L_SIM_DELAY")
    return {"D2L_SIM_DELAY": delay} if delay is not None else {}


def image_has_driver(region: str, image_id: str) -> bool:
    """Plain Ubuntu (Canonical's images) has no NVIDIA driver; the Deep Learning AMIs and images made
    from a set-up instance have it."""
    from tui.demo.ec2_rules import backend

    try:
        image = backend(region).amis.get(image_id)
    except KeyError:  # a region moto doesn't know
        image = None
    name = str(getattr(image, "name", "") or "")
    return not name.startswith("ubuntu/images/")


def machine_environment(home: Path, driver: bool) -> dict[str, str]:
    """What the simulated setup reads about its machine (tui/services/remote/recipe.py): whether the
    driver is there, where its marks go, its boot id and how it reboots (tui/demo/bin/d2l-sim-reboot)."""
    state = home / ".d2l-simulated"
    state.mkdir(parents=True, exist_ok=True)
    boot_id = boot_id_file(home)
    if not boot_id.exists():
        boot_id.write_text("simulated-boot-1\n")
    return {
        "D2L_SIM_DRIVER": "preinstalled" if driver else "absent",
        "D2L_SIM_STATE": str(state),
        "D2L_BOOT_ID_FILE": str(boot_id),
        "D2L_REBOOT_COMMAND": str(DEMO_BIN / "d2l-sim-reboot"),
    }


def autostop_environment(home: Path, minute_s: float | None = None) -> dict[str, str]:
    """Where the simulated machine keeps the auto-stop agent (tui/services/remote/autostop.py reads
    these in its login sessions; the agent and its installer read them too): under its sandbox, no
    sudo, the agent run from this package with this Python."""
    import sys

    root = home / ".d2l-simulated" / "autostop"
    agent = Path(__file__).resolve().parents[1] / "data" / "autostop" / "agent.py"
    return {
        "D2L_AUTOSTOP_ROOT": str(root),
        "D2L_AUTOSTOP_CONFIG": str(root / "etc" / "d2l-autostop" / "config.json"),
        "D2L_AUTOSTOP_STATE_DIR": str(root / "var" / "lib" / "d2l-autostop"),
        "D2L_AUTOSTOP_SUDO": "",
        "D2L_AUTOSTOP_AGENT": shlex.join([sys.executable, "-I", "-S", str(agent)]),
        "D2L_AUTOSTOP_JUPYTER": str(home / ".local" / "share" / "jupyter" / "runtime"),
        "D2L_AUTOSTOP_SETUP": f"{home / '.d2l-tui' / 'provision'}:{home / '.d2l-tui' / 'bench'}",
        # The demo's shells are this process's children, not an sshd's: no login on this laptop counts.
        "D2L_AUTOSTOP_SSHD_PID": str(os.getpid()),
        # The simulated machine's boots, not this laptop's: a Start (or the setup's reboot) is a new
        # boot id, so the agent's idle clock starts over as on an instance (DemoHosts.endpoint).
        "D2L_AUTOSTOP_BOOT_ID_FILE": str(boot_id_file(home)),
        "D2L_AUTOSTOP_UPTIME_FILE": str(root / "uptime"),
        **({"D2L_AUTOSTOP_MINUTE_S": f"{minute_s:g}"} if minute_s is not None else {}),
    }


def boot_id_file(home: Path) -> Path:
    """The simulated machine's /proc/sys/kernel/random/boot_id: the setup's reboot check and the
    auto-stop agent read it, a reboot (bin/d2l-sim-reboot) and a Start (_new_boot) write it."""
    return home / ".d2l-simulated" / "boot_id"


def _new_boot(home: Path) -> None:
    """A stopped simulated instance starts again: a boot id of its own, as /proc gives each boot."""
    boot_id = boot_id_file(home)
    boot_id.parent.mkdir(parents=True, exist_ok=True)
    boot_id.write_text(f"simulated-boot-{uuid.uuid4().hex}\n")


def _run_agent(env: dict[str, str]) -> None:
    agent = shlex.split(env["D2L_AUTOSTOP_AGENT"])
    done = subprocess.run(agent, env=env, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode:
        log.warning("demo host: the auto-stop agent failed (%s)", done.stderr[-500:])


def _stop_in_cloud(instance: Instance) -> None:
    from tui.demo.ec2_rules import backend

    backend(instance.region).stop_instances([instance.instance_id])


def run_user_data(instance: Instance, environment: dict[str, str]) -> None:
    """What cloud-init does at the first boot: the instance's user data (the auto-stop agent's
    installer) run once, here in the sandbox; DEMO_BIN's `systemctl` stands in for systemd."""
    import base64

    from tui.demo.ec2_rules import backend

    marker = Path(environment["D2L_AUTOSTOP_ROOT"]) / ".user-data-ran"
    try:
        raw = backend(instance.region).get_instance(instance.instance_id).user_data
    except Exception:  # an instance moto no longer has: nothing to run
        return
    raw = raw[0] if isinstance(raw, list) and raw else raw
    if not raw or marker.exists():
        return
    # moto keeps it as its base64 (a str, or its Base64EncodedString whose as_bytes is that base64).
    script = base64.b64decode(raw.as_bytes() if hasattr(raw, "as_bytes") else raw)
    env = {**os.environ, **environment, "PATH": f"{DEMO_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    done = subprocess.run(["bash", "-eu"], input=script, env=env, capture_output=True, check=False)
    if done.returncode:
        log.warning("demo host: the user data failed (%s)", done.stderr.decode(errors="replace")[-500:])
        return
    marker.write_text("ran\n")


def _stop_run(pid_file: Path) -> None:
    import os
    import signal

    try:
        os.killpg(int(pid_file.read_text().strip()), signal.SIGTERM)
    except (OSError, ValueError):
        pass  # no run, or it ended already


def _stop_jupyter(home: Path) -> None:
    """The demo's stand-in Jupyter servers, found through the runtime files Jupyter itself writes."""
    import json
    import os
    import signal

    for runtime in (home / ".local" / "share" / "jupyter" / "runtime").glob("jpserver-*.json"):
        try:
            os.kill(int(json.loads(runtime.read_text())["pid"]), signal.SIGTERM)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # ended already, or not a file we understand


def _public_key(key_path: Path | None) -> str | None:
    """The instance key's public half: only it may log in (any key when it can't be read)."""
    if key_path is None:
        return None
    try:
        import asyncssh

        return asyncssh.read_private_key(str(key_path)).export_public_key().decode().strip()
    except (OSError, ValueError, asyncssh.KeyImportError) as exc:
        log.warning("demo host: could not read %s (%s); accepting any key", key_path, exc)
        return None
