"""Every way credentials can be missing or stale becomes a sentence that says what to run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from moto import mock_aws

from tui.services.cloud.aws import Aws
from tui.services.errors import CredentialsError


def _sts_error(code: str, message: str, status: int = 403) -> Any:
    def customize(session: Any) -> None:
        def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
            meta = {"RequestId": "req-sts", "HTTPStatusCode": status, "HTTPHeaders": {}}
            parsed = {"Error": {"Code": code, "Message": message, "Type": "Sender"}, "ResponseMetadata": meta}
            return AWSResponse("https://sts.amazonaws.com/", status, HTTPHeaders(), None), parsed

        session.events.register("before-call.sts.GetCallerIdentity", answer)

    return customize


def test_no_credentials_says_aws_configure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role on a CI runner
    with pytest.raises(CredentialsError) as caught:
        Aws(region="us-east-1").identity()
    assert "No AWS credentials were found." in caught.value.what
    assert "aws configure" in caught.value.next_step and "--demo" in caught.value.next_step


def test_missing_profile_is_named(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError) as caught:
        Aws(profile="nope", region="us-east-1").identity()
    assert "'nope' does not exist" in caught.value.what
    assert "list-profiles" in caught.value.next_step


def test_expired_sso_session_says_sso_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real SSO profile whose token cache is empty: botocore itself refuses to sign.
    config = tmp_path / "sso-config"
    config.write_text(
        "[profile course]\n"
        "sso_session = school\n"
        "sso_account_id = 123456789012\n"
        "sso_role_name = Student\n"
        "region = us-east-1\n"
        "[sso-session school]\n"
        "sso_start_url = https://example.awsapps.com/start\n"
        "sso_region = us-east-1\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CredentialsError) as caught:
        Aws(profile="course").identity()
    assert "SSO session has expired" in caught.value.what
    assert "aws sso login --profile course" in caught.value.next_step


@pytest.mark.parametrize(
    ("code", "message", "said"),
    [
        (
            "ExpiredToken",
            "The security token included in the request is expired",
            "session token has expired",
        ),
        ("InvalidClientTokenId", "The security token included in the request is invalid.", "rejected"),
        ("AccessDenied", "User is not authorized to perform: sts:GetCallerIdentity", "denied access"),
    ],
)
def test_refused_credentials_are_sentences(code: str, message: str, said: str) -> None:
    with mock_aws():
        with pytest.raises(CredentialsError) as caught:
            Aws(region="us-east-1", customize=_sts_error(code, message)).identity()
    assert said in caught.value.what
    assert caught.value.next_step


def test_working_credentials_give_the_caller(aws: Aws) -> None:
    assert aws.identity().startswith("arn:aws:")
