"""Host keys from the console output (a real cloud-init capture, moto's GetConsoleOutput) and the
app's known_hosts, read back by OpenSSH's own tools."""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.sshd import keygen
from tests.test_lifecycle import run
from tui.services.cloud.aws import Aws
from tui.services.remote import hostkeys
from tui.services.remote.hostkeys import KnownHosts

FIXTURES = Path(__file__).parent / "fixtures" / "console-output"
LPAR = FIXTURES / "ubuntu-20.04-s390x-lpar-installer-NOT-EC2.txt"

# The fingerprints the capture's own FINGERPRINTS block prints (see fixtures/console-output/SOURCES.md).
LPAR_FINGERPRINTS = {
    "DSA": "SHA256:xu3vlG1BReKDy3DsuMZc/lg5y/+nhzlEmLDk/qFZAm0",
    "ECDSA": "SHA256:P+hBF3fj/pu6+0KaywUYii3Lyuc09Za9/a2elCDOgdE",
    "ED25519": "SHA256:CbZpkR9eFHuB1sCDZwSdSdwJzy9FpsIWRIyc9ershZ0",
    "RSA": "SHA256:KX5cHC4YL9dXpvhnP6eSfS+J/zmKgg9zdlEzaEb+RTA",
}


def cloud_init_console(keys: list[str], *, prefix: str = "ec2", host: str = "ip-172-31-22-24") -> str:
    """The two blocks as cloud-init prints them on EC2 (unwrapped), around some boot noise."""
    fps = [
        f"<14>Jun  3 17:07:52 {prefix}: 256 {hostkeys.fingerprint(k)} root@{host} ({hostkeys.key_kind(k)})"
        for k in keys
    ]
    return "\n".join(
        [
            "[   12.345678] cloud-init[1021]: Cloud-init v. 24.1 running 'modules:final'",
            f"<14>Jun  3 17:07:52 {prefix}: #############################################################",
            f"<14>Jun  3 17:07:52 {prefix}: {hostkeys.FINGERPRINTS_BEGIN}",
            *fps,
            f"<14>Jun  3 17:07:52 {prefix}: {hostkeys.FINGERPRINTS_END}",
            f"<14>Jun  3 17:07:52 {prefix}: #############################################################",
            hostkeys.KEYS_BEGIN,
            *[f"{k} root@{host}" for k in keys],
            hostkeys.KEYS_END,
            "[   13.000001] cloud-init[1021]: Cloud-init v. 24.1 finished",
            "",
        ]
    )


@pytest.fixture(scope="module")
def host_keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("host-keys")


@pytest.fixture(scope="module")
def host_keys(host_keys_dir: Path) -> dict[str, str]:
    """Real host keys made by ssh-keygen (once per module): kind -> public key line (no comment)."""
    tmp_path = host_keys_dir
    made = {}
    for kind in ("rsa", "ecdsa", "ed25519", "dsa"):
        try:
            made[kind] = keygen(tmp_path / f"host_{kind}", kind)
        except subprocess.CalledProcessError:
            continue  # an OpenSSH built without DSA
    return made


# --- Parsing -------------------------------------------------------------------------------------


def test_real_capture_wrapped_at_80_columns() -> None:
    text = LPAR.read_text()
    keys = hostkeys.parse_console_keys(text)
    assert [k.split()[0] for k in keys] == ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"]
    assert keys[0] == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJFzgips94nJNoR4QumiyqlJoSlZ48P+NVrd7zgD5k4T"
    assert all(len(k.split()) == 2 for k in keys)  # no comment ("root@ub" + "untu-server" stays out)
    printed = hostkeys.parse_console_fingerprints(text)
    assert printed == LPAR_FINGERPRINTS
    assert {hostkeys.key_kind(k): hostkeys.fingerprint(k) for k in keys} == {
        kind: fp for kind, fp in printed.items() if kind != "DSA"
    }


def test_the_suite_copy_of_the_capture_is_the_shared_one() -> None:
    from tests.conftest import SHARED

    shared = SHARED / "fixtures" / "console-output" / LPAR.name
    if not shared.exists():
        pytest.skip("no ../shared checkout next to this one")
    assert shared.read_bytes() == LPAR.read_bytes()


def test_ec2_layout_order_last_block_and_dsa_skipped(host_keys: dict[str, str]) -> None:
    old = cloud_init_console([host_keys["rsa"]])
    keys_in_print_order = [host_keys[k] for k in ("rsa", "ecdsa", "ed25519", "dsa") if k in host_keys]
    new = cloud_init_console(keys_in_print_order, prefix="cloud-init")
    cut = f"{hostkeys.KEYS_BEGIN}\n{host_keys['ed25519'][:30]}"  # output ends mid-block: not complete
    keys = hostkeys.parse_console_keys(old + new + cut)
    assert keys == [host_keys["ed25519"], host_keys["ecdsa"], host_keys["rsa"]]
    assert set(hostkeys.parse_console_fingerprints(new)) >= {"ED25519", "ECDSA", "RSA"}
    assert hostkeys.parse_console_keys(old + cut) == [host_keys["rsa"]]
    assert hostkeys.parse_console_keys("no blocks at all\n") == []
    assert hostkeys.parse_console_fingerprints("no blocks at all\n") == {}


def test_a_key_that_disagrees_with_its_printed_fingerprint_is_dropped(
    host_keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    text = cloud_init_console([host_keys["ed25519"], host_keys["rsa"]])
    good_fp = hostkeys.fingerprint(host_keys["ed25519"])
    tampered = text.replace(good_fp, "SHA256:" + "A" * 43)
    with caplog.at_level(logging.WARNING, logger="tui.services.remote.hostkeys"):
        assert hostkeys.parse_console_keys(tampered) == [host_keys["rsa"]]
    assert "not pinning it" in caplog.text and "ED25519" in caplog.text


def test_broken_lines_and_interleaved_kernel_messages(host_keys: dict[str, str]) -> None:
    ed = host_keys["ed25519"]
    text = "\n".join(
        [
            hostkeys.KEYS_BEGIN,
            "ssh-ed25519 not-base64-at-all",
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIJFzgips",  # cut short
            ed[:40],
            "[   98.765432] random: crng init done",
            ed[40:] + " root@ip-10-0-0-1",
            hostkeys.KEYS_END,
        ]
    )
    assert hostkeys.parse_console_keys(text) == [ed]


def test_fingerprint_matches_ssh_keygen(host_keys_dir: Path, host_keys: dict[str, str]) -> None:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen not installed")
    for kind in ("ed25519", "ecdsa", "rsa"):
        out = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", str(host_keys_dir / f"host_{kind}.pub")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.split()[1] == hostkeys.fingerprint(host_keys[kind])


# --- GetConsoleOutput on moto ----------------------------------------------------------------------


def console_hook(aws: Aws, outputs: Callable[[int], str], region: str = "us-east-1") -> list[dict[str, Any]]:
    """GetConsoleOutput answers outputs(n) for the n-th call (moto always answers a fixed Xen boot log).
    Returns the list of the calls' parameters."""
    calls: list[dict[str, Any]] = []
    ec2 = aws.client("ec2", region)

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    def replace(parsed: dict[str, Any], **_: Any) -> None:
        if "Output" in parsed:
            parsed["Output"] = base64.b64encode(outputs(len(calls)).encode()).decode()

    ec2.meta.events.register("before-parameter-build.ec2.GetConsoleOutput", record)
    ec2.meta.events.register("after-call.ec2.GetConsoleOutput", replace)
    return calls


def test_console_text_reads_base64_as_ec2_sends_it_and_moto_plain_text(aws: Aws) -> None:
    instance_id = run(aws, "us-east-1", "box")
    raw = aws.client("ec2", "us-east-1").get_console_output(InstanceId=instance_id, Latest=True)["Output"]
    assert raw.startswith("Linux version")  # moto 5.2 answers decoded text; EC2 answers base64
    assert hostkeys.console_text(aws, "us-east-1", instance_id).startswith("Linux version")
    console_hook(aws, lambda n: "[    0.000000] Linux version 6.8.0-1012-aws\n")
    assert (
        hostkeys.console_text(aws, "us-east-1", instance_id)
        == "[    0.000000] Linux version 6.8.0-1012-aws\n"
    )


def test_fetch_polls_with_backoff_until_the_keys_appear(aws: Aws, host_keys: dict[str, str]) -> None:
    instance_id = run(aws, "us-east-1", "box")
    ready = cloud_init_console([host_keys["ed25519"]])
    calls = console_hook(aws, lambda n: ready if n >= 4 else "[    1.0] booting\n")
    slept: list[float] = []
    lines: list[str] = []
    keys = hostkeys.fetch_console_keys(
        aws, "us-east-1", instance_id, sleep=slept.append, on_wait=lines.append
    )
    assert keys == [host_keys["ed25519"]]
    assert slept == [5, 10, 20]
    assert len(calls) == 4 and all(c == {"InstanceId": instance_id, "Latest": True} for c in calls)
    assert lines[0].startswith(
        "Waiting for the instance's host keys in its console output (1–3 min after boot)"
    )
    assert [line.rsplit("… ", 1)[1] for line in lines] == ["0 s", "5 s", "15 s"]


def test_fetch_gives_up_at_the_deadline(aws: Aws) -> None:
    instance_id = run(aws, "us-east-1", "box")
    slept: list[float] = []
    assert hostkeys.fetch_console_keys(aws, "us-east-1", instance_id, timeout_s=100, sleep=slept.append) == []
    assert slept == [5, 10, 20, 30, 30, 5]  # capped at 30 s, and never past the deadline


def test_fetch_falls_back_without_latest_where_it_is_unsupported(aws: Aws, host_keys: dict[str, str]) -> None:
    instance_id = run(aws, "us-east-1", "box")
    calls = console_hook(aws, lambda n: cloud_init_console([host_keys["ecdsa"]]))

    def refuse_latest(params: dict[str, Any], **_: Any) -> Any:
        if params["body"].get("Latest") == "true":
            error = {"Code": "UnsupportedOperation", "Message": "Latest console output is not supported."}
            return types.SimpleNamespace(status_code=400, headers={}), {
                "Error": error,
                "ResponseMetadata": {},
            }
        return None

    aws.client("ec2", "us-east-1").meta.events.register("before-call.ec2.GetConsoleOutput", refuse_latest)
    assert hostkeys.fetch_console_keys(
        aws, "us-east-1", instance_id, sleep=lambda s: pytest.fail("no wait")
    ) == [host_keys["ecdsa"]]
    assert [c.get("Latest") for c in calls] == [True, None]


# --- The app's known_hosts -------------------------------------------------------------------------


def test_pin_check_forget(tmp_path: Path, host_keys: dict[str, str]) -> None:
    path = tmp_path / "state" / "d2l-tui" / "known_hosts"
    known = KnownHosts(path)
    assert known.keys_for("i-0abc") == [] and known.check("i-0abc").pinned == ()
    assert known.forget("i-0abc") is False

    check = known.pin("i-0abc", [host_keys["ed25519"] + " root@host", host_keys["rsa"]], source="console")
    assert check.pinned == (host_keys["ed25519"], host_keys["rsa"]) and check.source == "console"
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    known.pin("i-0def", [host_keys["ecdsa"]])
    assert known.check("i-0def").source == "user"

    # Pinning again replaces that instance's keys only; lines written by others stay as they are.
    with open(path, "a") as f:
        f.write(f"# a note\nother.example.com {host_keys['rsa']}\n")
    known.pin("i-0abc", [host_keys["ecdsa"]], source="console")
    assert known.keys_for("i-0abc") == [host_keys["ecdsa"]]
    assert known.keys_for("i-0def") == [host_keys["ecdsa"]]
    assert f"other.example.com {host_keys['rsa']}" in path.read_text() and "# a note" in path.read_text()

    assert known.forget("i-0abc") is True
    assert known.keys_for("i-0abc") == [] and known.keys_for("i-0def") == [host_keys["ecdsa"]]
    # A line naming several hosts (written by hand) loses only the instance forgotten.
    with open(path, "a") as f:
        f.write(f"i-0abc,spare.example.com {host_keys['ed25519']}\n")
    assert known.keys_for("i-0abc") == [host_keys["ed25519"]]
    assert known.forget("i-0abc") is True and known.keys_for("i-0abc") == []
    assert f"spare.example.com {host_keys['ed25519']}" in path.read_text().splitlines()
    with pytest.raises(ValueError):
        known.pin("i-0abc", ["ssh-ed25519 garbage"])
    with pytest.raises(ValueError):
        known.pin("i-0abc", [])
    assert [p.name for p in path.parent.iterdir()] == ["known_hosts"]  # no temp files left behind


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
def test_openssh_finds_the_pins_by_instance_id(tmp_path: Path, host_keys: dict[str, str]) -> None:
    path = tmp_path / "known_hosts"
    KnownHosts(path).pin("i-0abc", [host_keys["ed25519"]], source="console")
    out = subprocess.run(
        ["ssh-keygen", "-F", "i-0abc", "-f", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert host_keys["ed25519"] in out


# --- An old cloud-init (MD5 fingerprints only) and an unreadable known_hosts -----------------------

OLD_CLOUD_INIT = FIXTURES / "old-cloud-init-md5-only-DERIVED.txt"


def test_md5_only_console_pins_the_keys_that_parse_and_says_there_was_no_cross_check(
    aws: Aws, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    from tui.services.remote.ssh import ensure_pinned

    instance_id = run(aws, "us-east-1", "old-box")
    console_hook(aws, lambda n: OLD_CLOUD_INIT.read_text())
    instance = types.SimpleNamespace(instance_id=instance_id, region="us-east-1")
    lines: list[str] = []
    with caplog.at_level(logging.WARNING, logger="tui.services.remote.hostkeys"):
        check = ensure_pinned(aws, instance, KnownHosts(tmp_path / "known_hosts"), on_wait=lines.append)  # type: ignore[arg-type]

    # The ECDSA and RSA keys parse (their MD5 matches the block); the garbled ED25519 line is skipped.
    assert [hostkeys.key_kind(k) for k in check.pinned] == ["ECDSA", "RSA"]
    assert [hostkeys.fingerprint(k) for k in check.pinned] == [
        LPAR_FINGERPRINTS["ECDSA"],
        LPAR_FINGERPRINTS["RSA"],
    ]
    notes = [line for line in lines if isinstance(line, hostkeys.PinNote)]
    assert notes == [
        "The console lists only MD5 fingerprints (an old cloud-init); the host keys were pinned without a"
        " cross-check.",
        "1 host key line(s) in the console output could not be read and were not pinned.",
    ]
    logged = caplog.text
    assert "only MD5 fingerprints" in logged and "could not read the ssh-ed25519 host key line" in logged


def test_a_console_with_sha256_fingerprints_has_no_note() -> None:
    keys, notes = hostkeys.read_console_keys(LPAR.read_text())
    assert len(keys) == 3 and notes == []


def test_an_unreadable_known_hosts_is_refused_with_a_sentence_never_rewritten(
    tmp_path: Path, host_keys: dict[str, str]
) -> None:
    path = tmp_path / "known_hosts"
    garbled = b"# d2l-tui\ni-0abc ssh-ed25519 AAAA\n\x00\xc3\x28 bad\n"
    path.write_bytes(garbled)
    known = KnownHosts(path)
    for attempt in (
        lambda: known.keys_for("i-0abc"),
        lambda: known.check("i-0abc"),
        lambda: known.pin("i-0abc", [host_keys["ed25519"]], source="console"),
        lambda: known.forget("i-0abc"),
    ):
        with pytest.raises(hostkeys.KnownHostsUnreadable) as refused:
            attempt()
        assert refused.value.what == (
            f"The app's known_hosts cannot be read (not UTF-8 at line 3): fix or remove {path}, then retry."
        )
    assert path.read_bytes() == garbled
    assert list(tmp_path.iterdir()) == [path]  # nothing set aside: it holds trust
