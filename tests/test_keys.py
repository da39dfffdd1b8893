"""Key pairs: local ed25519 files (0400 in 0700, never overwritten) and per-region imports on moto."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tui.demo.cloud import add_realistic_image_sizes
from tui.models import TAG_MANAGED, TAG_NAME, KeyChoice
from tui.services.cloud.aws import Aws
from tui.services.cloud.keys import (
    ensure_key,
    find_private_key,
    fix_permissions,
    generate_key,
    list_key_pairs,
    permission_problem,
    private_key_path,
    validate_key_name,
)
from tui.services.errors import D2lError, InputError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _public_of(path: Path) -> str:
    key = serialization.load_ssh_private_key(path.read_bytes(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def _tags(pair: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in pair.get("Tags", [])}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home


def test_generate_writes_0400_key_in_0700_dir(key_dir: Path) -> None:
    path, public = generate_key("d2l-key", key_dir)
    assert path == key_dir / "d2l-key.pem" == private_key_path("d2l-key", key_dir)
    assert _mode(path) == 0o400
    assert _mode(key_dir) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    assert isinstance(serialization.load_ssh_private_key(path.read_bytes(), None), ed25519.Ed25519PrivateKey)
    assert public.startswith("ssh-ed25519 AAAA")
    assert public.endswith(" d2l-tui:d2l-key")
    # The public line is the private key's own public half.
    assert public.rsplit(" ", 1)[0] == _public_of(path)


def test_second_generate_refuses_and_keeps_first_file(key_dir: Path) -> None:
    path, _ = generate_key("k", key_dir)
    before = path.read_bytes()
    with pytest.raises(D2lError) as info:
        generate_key("k", key_dir)
    assert "already exists" in info.value.what and str(path) in info.value.what
    assert info.value.next_step
    assert path.read_bytes() == before
    assert _mode(path) == 0o400


def test_generate_refuses_to_write_through_a_symlink(key_dir: Path, tmp_path: Path) -> None:
    key_dir.mkdir(parents=True, mode=0o700)
    target = tmp_path / "elsewhere"
    (key_dir / "k.pem").symlink_to(target)
    with pytest.raises(D2lError):
        generate_key("k", key_dir)
    assert not target.exists()


def test_generate_tightens_our_own_loose_key_dir(key_dir: Path) -> None:
    key_dir.mkdir(parents=True)
    os.chmod(key_dir, 0o755)
    generate_key("k", key_dir)
    assert _mode(key_dir) == 0o700


def test_generate_refuses_bad_name_without_writing(key_dir: Path) -> None:
    with pytest.raises(InputError):
        generate_key("../escape", key_dir)
    assert not key_dir.exists()


@pytest.mark.parametrize("name", ["d2l", "my-key_1.0", "A" * 64, "9lives"])
def test_valid_key_names(name: str) -> None:
    assert validate_key_name(name) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("my key", "Key names can only use letters, digits, '-', '_' and '.'; 'my key' has a space."),
        ("", "A key name is needed"),
        ("a" * 65, "at most 64 characters; this one has 65"),
        ("-key", "must start with a letter or digit"),
        (".key", "must start with a letter or digit"),
        ("a/b", "has a '/'"),
        ("clé", "'é'"),
    ],
)
def test_invalid_key_names(name: str, expected: str) -> None:
    problem = validate_key_name(name)
    assert problem is not None and expected in problem


def test_permission_problem_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    os.chmod(path, 0o644)
    problem = permission_problem(path)
    assert problem == f"ssh refuses key files other users can read: {path} is mode 0644."
    fix_permissions(path)
    assert _mode(path) == 0o400
    assert permission_problem(path) is None


def test_find_private_key_search_order(key_dir: Path, home: Path) -> None:
    pem = b"-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n"
    assert find_private_key("k", key_dir) is None
    (home / ".ssh" / "k").write_bytes(pem)
    assert find_private_key("k", key_dir) == home / ".ssh" / "k"
    (home / ".ssh" / "k.pem").write_bytes(pem)
    assert find_private_key("k", key_dir) == home / ".ssh" / "k.pem"
    key_dir.mkdir(parents=True)
    (key_dir / "k.pem").write_bytes(pem)
    assert find_private_key("k", key_dir) == key_dir / "k.pem"


def test_find_private_key_ignores_files_that_are_not_keys(key_dir: Path, home: Path) -> None:
    (home / ".ssh" / "config").write_text("Host *\n  ServerAliveInterval 30\n")
    assert find_private_key("config", key_dir) is None
    assert find_private_key("../../etc/passwd", key_dir) is None


def test_import_one_local_key_into_two_regions(aws: Aws, key_dir: Path, home: Path) -> None:
    first = ensure_key(aws, "us-east-1", KeyChoice("d2l", None, create=True), key_dir)
    assert first == KeyChoice("d2l", str(key_dir / "d2l.pem"), create=False)
    before = (key_dir / "d2l.pem").read_bytes()
    # A later launch elsewhere: only the name is known; the local file is found and imported.
    second = ensure_key(aws, "eu-west-1", KeyChoice("d2l", None), key_dir)
    assert second.private_key_path == first.private_key_path
    assert (key_dir / "d2l.pem").read_bytes() == before

    pairs = [
        aws.client("ec2", r).describe_key_pairs(KeyNames=["d2l"])["KeyPairs"][0]
        for r in ("us-east-1", "eu-west-1")
    ]
    assert [p["KeyType"] for p in pairs] == ["ed25519", "ed25519"]
    assert pairs[0]["KeyFingerprint"] == pairs[1]["KeyFingerprint"]  # the same key in both
    for pair in pairs:
        assert _tags(pair) == {TAG_MANAGED: "true", TAG_NAME: "d2l"}

    # Already there: nothing is imported or generated again.
    again = ensure_key(aws, "eu-west-1", KeyChoice("d2l", None, create=True), key_dir)
    assert again == second
    assert len(aws.client("ec2", "eu-west-1").describe_key_pairs()["KeyPairs"]) == 1


@pytest.mark.parametrize("create", [False, True])
def test_existing_pair_without_private_key_is_an_error(
    aws: Aws, key_dir: Path, home: Path, create: bool
) -> None:
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    material = other.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    aws.client("ec2", "us-east-1").import_key_pair(KeyName="laptop", PublicKeyMaterial=material)
    with pytest.raises(D2lError) as info:
        ensure_key(aws, "us-east-1", KeyChoice("laptop", None, create=create), key_dir)
    assert "private key was not found" in info.value.what
    assert "path" in info.value.next_step
    # Nothing generated: a new key under that name would never match the pair in the region.
    assert not key_dir.exists()


def test_missing_pair_and_missing_file_is_an_error(aws: Aws, key_dir: Path, home: Path) -> None:
    with pytest.raises(D2lError) as info:
        ensure_key(aws, "us-east-1", KeyChoice("nowhere", None), key_dir)
    assert "doesn't exist in us-east-1" in info.value.what
    assert aws.client("ec2", "us-east-1").describe_key_pairs()["KeyPairs"] == []


def test_console_style_rsa_pem_is_imported_from_given_path(aws: Aws, key_dir: Path, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    os.chmod(path, 0o400)
    result = ensure_key(aws, "us-east-1", KeyChoice("book", str(path)), key_dir)
    assert result.private_key_path == str(path)
    pair = aws.client("ec2", "us-east-1").describe_key_pairs(KeyNames=["book"])["KeyPairs"][0]
    assert pair["KeyType"] == "rsa"


def test_list_key_pairs_finds_local_files(aws: Aws, key_dir: Path, home: Path) -> None:
    ensure_key(aws, "us-east-1", KeyChoice("mine", None, create=True), key_dir)
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    material = other.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    aws.client("ec2", "us-east-1").import_key_pair(KeyName="elsewhere", PublicKeyMaterial=material)
    assert list_key_pairs(aws, "us-east-1", key_dir) == [
        KeyChoice("elsewhere", None),
        KeyChoice("mine", str(key_dir / "mine.pem")),
    ]


def test_import_denied_names_the_permission(key_dir: Path, home: Path) -> None:
    def denied(**_: Any) -> Any:
        parsed = {"Error": {"Code": "UnauthorizedOperation", "Message": "You are not authorized."}}
        return AWSResponse("https://example.invalid/", 403, {}, None), parsed

    def customize(session: Any) -> None:
        session.events.register("before-call.ec2.ImportKeyPair", denied)

    from moto import mock_aws

    with mock_aws():
        aws = Aws(region="us-east-1", customize=customize)
        with pytest.raises(D2lError) as info:
            ensure_key(aws, "us-east-1", KeyChoice("k", None, create=True), key_dir)
    assert "ec2:ImportKeyPair" in info.value.what
    # The local key stays: the next try imports it instead of making another.
    assert _mode(key_dir / "k.pem") == 0o400


def test_ensure_key_through_moto_server(moto_endpoint: str, key_dir: Path, home: Path) -> None:
    aws = Aws(region="us-east-1", customize=add_realistic_image_sizes)
    key = ensure_key(aws, "us-east-1", KeyChoice("served", None, create=True), key_dir)
    assert key.private_key_path == str(key_dir / "served.pem")
    pair = aws.client("ec2", "us-east-1").describe_key_pairs(KeyNames=["served"])["KeyPairs"][0]
    assert pair["KeyType"] == "ed25519"
    assert _tags(pair)[TAG_MANAGED] == "true"
