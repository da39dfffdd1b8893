"""--demo's simulated instance runs its auto-stop agent as the instance's timer would (minutes made
fractions of a second here), and the agent's `shutdown` stops the instance in the simulated cloud.
The instance is launched in moto with the real user data, which the demo host runs at first boot."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from tests.support.screen_app import demo_cloud
from tests.ui.test_cockpit_autostop import launch_with_agent
from tui.demo.hosts import DemoHosts
from tui.models import AutostopConfig, AutostopSetting
from tui.services.cloud.lifecycle import describe_one


async def test_an_idle_demo_instance_stops_itself(tmp_path: Path, client_key: tuple[Path, str]) -> None:
    with demo_cloud(tmp_path) as (aws, _):
        hosts = DemoHosts(tmp_path / "timed", agent_minute_s=0.2)
        instance = launch_with_agent(aws, AutostopSetting(30))
        try:
            await hosts.endpoint(instance, client_key[0])
            root = tmp_path / "timed" / instance.instance_id / "ubuntu" / ".d2l-simulated" / "autostop"
            config = root / "etc" / "d2l-autostop" / "config.json"
            assert json.loads(config.read_text())["idle_minutes"] == 30  # the user data ran
            # Shorter, and this machine's other work not counted as the instance's CPU.
            config.write_text(
                json.dumps(AutostopConfig(idle_minutes=3, warn_minutes=1, cpu_cores=1000).__dict__)
            )

            async def state() -> str:
                found = await asyncio.to_thread(describe_one, aws, "us-east-1", instance.instance_id)
                return found.state if found else "gone"

            for _ in range(100):
                if await state() in ("stopping", "stopped"):
                    break
                await asyncio.sleep(0.1)
            assert await state() in ("stopping", "stopped")
            status = json.loads((root / "var" / "lib" / "d2l-autostop" / "status.json").read_text())
            assert status["state"] == "stopping" and status["minute_s"] == 0.2
            assert not hosts.hosts[instance.instance_id].running

            # Started again, it is a new boot: its idle clock starts over (the agent read this laptop's
            # boot id, which never changes, and stopped every start again at once).
            state_file = root / "var" / "lib" / "d2l-autostop" / "state.json"
            stopped_boot = json.loads(state_file.read_text())["boot_id"]
            ec2 = aws.client("ec2", "us-east-1")
            await asyncio.to_thread(ec2.start_instances, InstanceIds=[instance.instance_id])
            started_at = time.time()
            await hosts.endpoint(instance, client_key[0])
            for _ in range(150):  # the agent's next run after the start (its timer, a subprocess)
                after = json.loads(state_file.read_text())
                if after["boot_id"] != stopped_boot:
                    break
                await asyncio.sleep(0.1)
            assert after["boot_id"] != stopped_boot and after["boot_id"].startswith("simulated-boot-")
            assert after["last_active"] >= started_at - 0.5  # idle counted from this start, not before
        finally:
            await hosts.stop()
