"""Instances figures against a moto server on loopback, 3 regions x 20 managed instances.

(a) time from starting `d2l-tui --instances` in a 120x40 tmux to the instances screen showing all
    60 (issue 4's target: <= 0.7 s on this machine): from the list remembered from last time, then
    live from AWS, then with every region swept; and the same for a first start (no memory);
(b) `d2l-tui ls` wall time (every enabled region, concurrently) against `aws ec2 describe-instances`
    for the 3 regions that hold the instances (one call per region, as the aws CLI works), or, when
    the aws CLI is missing, a plain boto3 describe_instances loop over the 3 regions.

Prints figures; not a test. Medians of N warm runs.

    .venv/bin/python bench/instances.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tui.demo.cloud import configure_moto_environment  # noqa: E402

configure_moto_environment()  # before moto is imported: it reads MOTO_AMIS_PATH then

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from bench.startup import one_run, pane, wait_for  # noqa: E402
from tui.models import TAG_MANAGED, TAG_NAME  # noqa: E402

BIN = Path(sys.executable).with_name("d2l-tui")
REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]
PER_REGION = 20
UBUNTU = "ami-0286d0aea4d6c7a34"  # in every region of the bundled images


def populate(endpoint: str) -> None:
    for region in REGIONS:
        ec2 = boto3.client("ec2", region_name=region, endpoint_url=endpoint)
        for n in range(PER_REGION):
            name = f"{region}-{n:02d}"
            tags = [{"Key": TAG_MANAGED, "Value": "true"}, {"Key": TAG_NAME, "Value": name}]
            ec2.run_instances(
                ImageId=UBUNTU,
                InstanceType="g4dn.xlarge",
                MinCount=1,
                MaxCount=1,
                TagSpecifications=[
                    {"ResourceType": "instance", "Tags": [*tags, {"Key": "Name", "Value": name}]}
                ],
            )


def to_instances_screen(env: dict[str, str]) -> tuple[float | None, float, float]:
    """Seconds from start to: last time's list painted (None: nothing remembered), the live list from
    AWS, and the sweep of every region finished with costs."""
    session = f"inst{os.getpid()}{time.monotonic_ns()}"
    total = len(REGIONS) * PER_REGION

    def live(screen: str) -> bool:
        return any(f"{total} instance(s){end}" in screen for end in (" in the regions used", " so far", ";"))

    start = time.perf_counter()
    subprocess.run(
        ["tmux", "new-session", "-d", "-x", "120", "-y", "40", "-s", session, f"{BIN} --instances"],
        check=True,
        env=env,
    )
    try:
        first = wait_for(session, lambda s: f"{total} instance(s)" in s, timeout=60)
        remembered = first - start if "remembered from last time" in pane(session) else None
        shown = wait_for(session, live, timeout=60) - start
        swept = wait_for(session, lambda s: f"{total} instance(s);" in s, timeout=60) - start
        return remembered, shown, swept
    except TimeoutError:
        print(pane(session))
        raise
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        time.sleep(1.5)  # the app's exit and its last requests to moto must not overlap the next run


def ms(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:6.0f} ms  "
        f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})"
    )


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def boto3_loop(endpoint: str) -> float:
    start = time.perf_counter()
    for region in REGIONS:
        ec2 = boto3.client("ec2", region_name=region, endpoint_url=endpoint)
        for _ in ec2.get_paginator("describe_instances").paginate():
            pass
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    if not shutil.which("tmux"):
        print("tmux is not installed (apt-get install tmux)")
        return 1
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request would bury the figures
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        home = tempfile.mkdtemp(prefix="d2l-bench-")
        env = dict(
            os.environ,
            HOME=home,
            XDG_STATE_HOME=f"{home}/state",
            XDG_CACHE_HOME=f"{home}/cache",
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_SHARED_CREDENTIALS_FILE=f"{home}/none",
            AWS_CONFIG_FILE=f"{home}/none",
        )
        env.pop("AWS_PROFILE", None)
        os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
        populate(endpoint)
        total = len(REGIONS) * PER_REGION
        print(f"moto server {endpoint}: {len(REGIONS)} regions x {PER_REGION} = {total} managed instances")

        to_instances_screen(env)  # warm the page cache and .pyc files; leaves the remembered list
        bare_app = [sys.executable, str(Path(__file__).with_name("bare_app.py"))]
        warm, bare = [], []
        for _ in range(opts.runs):  # interleaved: this shared machine's speed drifts from minute to minute
            warm.append(to_instances_screen(env))
            bare.append(one_run(bare_app, "bare textual app", None, env)[0])
            time.sleep(1.5)  # its exit must not overlap the next run either
        remembered = [r for r, _, _ in warm if r is not None]
        print(f"floor: a bare Textual app's first frame    {ms(bare)}")
        print("d2l-tui --instances, list remembered from last time (dimmed, no actions): start ->")
        if remembered:
            print(f"  all {total} instances on screen          {ms(remembered)}  (target <= 700 ms)")
        print(f"  the live list from AWS              {ms([live for _, live, _ in warm])}")
        print(f"  every region checked, costs shown   {ms([swept for _, _, swept in warm])}")

        cold = []
        for _ in range(opts.runs):
            fresh = dict(env, XDG_CACHE_HOME=tempfile.mkdtemp(prefix="d2l-bench-cache-"))
            cold.append(to_instances_screen(fresh))
        print(
            "d2l-tui --instances, first start on this machine (nothing remembered, every region swept): start ->"
        )
        print(f"  all {total} instances on screen          {ms([live for _, live, _ in cold])}")
        print(f"  costs shown                         {ms([swept for _, _, swept in cold])}")

        ls = [timed([str(BIN), "ls"], env) for _ in range(opts.runs + 1)][1:]
        print(
            f"d2l-tui ls (every enabled region, concurrently): median {statistics.median(ls) * 1000:6.0f} ms"
        )
        aws = shutil.which("aws")
        if aws:
            per_region = [
                sum(timed([aws, "ec2", "describe-instances", "--region", r], env) for r in REGIONS)
                for _ in range(opts.runs + 1)
            ][1:]
            print(
                f"aws ec2 describe-instances x {len(REGIONS)} regions (one after another): "
                f"median {statistics.median(per_region) * 1000:6.0f} ms"
            )
            one = [
                timed([aws, "ec2", "describe-instances", "--region", "us-east-1"], env)
                for _ in range(opts.runs)
            ]
            print(f"aws ec2 describe-instances, one region: median {statistics.median(one) * 1000:6.0f} ms")
        else:
            loop = [boto3_loop(endpoint) for _ in range(opts.runs)]
            print(
                "aws CLI not installed: a plain boto3 describe_instances loop over the "
                f"{len(REGIONS)} regions, in-process (no interpreter start): median {statistics.median(loop) * 1000:6.0f} ms"
            )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
