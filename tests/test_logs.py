"""The log file: where it is, who can read it, that it rotates, and that no secret reaches it."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tui.logs import log_exception, mask_secrets, setup_logging
from tui.services.errors import from_client_error

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documented example secret: 40 chars
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6" + "x7Yq" * 40
JUPYTER_TOKEN = "3f2a9c1e7b5d4a6f8e0c2b4d6f8a0c2e4b6d8f0a2c4e6b8d"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_path_is_the_state_dir_with_private_modes(tmp_path: Path, restore_logging: None) -> None:
    path = setup_logging()
    assert path == tmp_path / "state" / "d2l-tui" / "d2l-tui.log"
    logging.getLogger("tui.test").info("hello from the test")
    assert "hello from the test" in path.read_text()
    assert _mode(path.parent) == 0o700 and _mode(path) == 0o600


def test_nothing_goes_to_the_terminal(
    tmp_path: Path, restore_logging: None, capfd: pytest.CaptureFixture[str]
) -> None:
    logging.getLogger().addHandler(logging.StreamHandler())  # as a library's basicConfig would
    path = setup_logging(tmp_path / "logs" / "app.log")
    logging.getLogger("tui.test").error("an error line")
    import warnings

    warnings.warn("a library deprecation", DeprecationWarning, stacklevel=1)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    text = path.read_text()
    assert "an error line" in text and "a library deprecation" in text


def test_a_message_that_is_not_valid_unicode_is_written_escaped_and_the_log_goes_on(
    tmp_path: Path, restore_logging: None, capfd: pytest.CaptureFixture[str]
) -> None:
    path = setup_logging(tmp_path / "app.log")
    # A lone surrogate, as json.loads gives for an AWS message holding "\udcff": not encodable as UTF-8.
    logging.getLogger("tui.test").warning("AWS said: %s", "caf\udcff")
    logging.getLogger("tui.test").warning("the next line")
    assert path is not None
    text = path.read_text()
    assert "AWS said: caf\\udcff" in text and "the next line" in text
    assert capfd.readouterr().err == ""


def test_calling_twice_keeps_one_handler(tmp_path: Path, restore_logging: None) -> None:
    setup_logging(tmp_path / "a.log")
    path = setup_logging(tmp_path / "b.log")
    ours = [h for h in logging.getLogger().handlers if h.get_name() == "d2l-tui-file"]
    assert len(ours) == 1
    logging.getLogger("tui.test").info("only once")
    assert path.read_text().count("only once") == 1
    assert "only once" not in (tmp_path / "a.log").read_text()


def test_rotates_at_about_a_megabyte_and_backups_stay_private(tmp_path: Path, restore_logging: None) -> None:
    path = setup_logging(tmp_path / "app.log")
    logger = logging.getLogger("tui.test")
    line = "lorem ipsum " * 84  # words: a long unbroken run would be masked as a token
    for _ in range(2500):  # ~2.5 MB: two rollovers
        logger.info(line)
    backups = sorted(tmp_path.glob("app.log.*"))
    assert [b.name for b in backups] == ["app.log.1", "app.log.2"]
    assert all(_mode(p) == 0o600 for p in [path, *backups])
    assert path.stat().st_size <= 1_000_000 + 2000


def test_secrets_are_masked_in_messages_arguments_and_tracebacks(
    tmp_path: Path, restore_logging: None
) -> None:
    path = setup_logging(tmp_path / "app.log")
    logger = logging.getLogger("tui.test")
    logger.info("config: aws_secret_access_key = %s", SECRET)
    logger.info("env AWS_SESSION_TOKEN=%s", SESSION_TOKEN)
    logger.info("botocore creds %s", {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": SECRET})
    logger.info('{"Credentials": {"SessionToken": "%s"}}', SESSION_TOKEN)
    logger.info("bare secret %s and bare token %s", SECRET, SESSION_TOKEN)
    logger.info("jupyter at http://127.0.0.1:8888/lab?token=%s&x=1", JUPYTER_TOKEN)
    logger.info("header Authorization: token %s", JUPYTER_TOKEN)
    logger.info(
        "key -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
    )
    try:
        raise RuntimeError(f"could not parse aws_secret_access_key={SECRET}")
    except RuntimeError:
        logger.exception("failed with %s", f"?token={JUPYTER_TOKEN}")

    text = path.read_text()
    for secret in (SECRET, SESSION_TOKEN, JUPYTER_TOKEN, "b3BlbnNzaC1rZXktdjEAAAAA", SESSION_TOKEN[:60]):
        assert secret not in text
    assert text.count("***") >= 11
    # What isn't secret stays readable: the access key id, the context, the traceback itself.
    assert "AKIAIOSFODNN7EXAMPLE" in text and "jupyter at http://127.0.0.1:8888/lab?token=***&x=1" in text
    assert "Traceback (most recent call last)" in text and "RuntimeError: could not parse" in text


def test_mask_leaves_ordinary_text_alone() -> None:
    ordinary = (
        "launched i-0123456789abcdef0 from ami-06517bc7fad3c6a48 in us-east-1; commit "
        "da39a3ee5e6b4b0d3255bfef95601890afd80709; path /home/u/.ssh/d2l-tui/d2l-tui.pem; "
        "the client token is 2f0c9a0e-3d1b-4f6e-9c55-6c8f0b1d2e3a"
    )
    assert mask_secrets(ordinary) == ordinary
    assert (
        mask_secrets(f"password: hunter2 secret_access_key: {SECRET}")
        == "password: *** secret_access_key: ***"
    )


def test_log_exception_writes_request_id_code_and_traceback(tmp_path: Path, restore_logging: None) -> None:
    path = setup_logging(tmp_path / "app.log")
    response = {
        "Error": {"Code": "VcpuLimitExceeded", "Message": "You have requested more vCPU capacity"},
        "ResponseMetadata": {"RequestId": "5e3b2c1a-aaaa-bbbb-cccc-0123456789ab", "HTTPStatusCode": 400},
    }
    try:
        try:
            raise ClientError(response, "RunInstances")  # type: ignore[arg-type]
        except ClientError as exc:
            raise from_client_error(exc, "RunInstances") from exc
    except Exception as err:
        log_exception(logging.getLogger("tui.test"), err, "launching g4dn.xlarge")
    text = path.read_text()
    assert "launching g4dn.xlarge: QuotaError: Your account's vCPU limit" in text
    assert "[code VcpuLimitExceeded] [request id 5e3b2c1a-aaaa-bbbb-cccc-0123456789ab]" in text
    assert "Traceback" in text and "botocore.exceptions.ClientError" in text  # the cause is kept


def test_log_exception_without_request_id(tmp_path: Path, restore_logging: None) -> None:
    path = setup_logging(tmp_path / "app.log")
    try:
        raise ValueError("plain")
    except ValueError as err:
        log_exception(logging.getLogger("tui.test"), err, "parsing")
    text = path.read_text()
    assert "parsing: ValueError: plain" in text and "request id" not in text and "Traceback" in text
