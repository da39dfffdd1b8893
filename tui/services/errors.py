"""Our exceptions: each carries a sentence for the screen and the next step to take.

Services raise these instead of botocore's errors so that screens and the CLI can show one
clear line (and keep the details, request ids and tracebacks, for the log file).
"""

from __future__ import annotations

from typing import Any

from tui.aws_response import error_code


class D2lError(Exception):
    """An error a person can act on: ``what`` happened and the ``next_step`` to take."""

    def __init__(self, what: str, next_step: str = "", *, code: str = "", request_id: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.next_step = next_step
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.what} {self.next_step}".strip()


class CredentialsError(D2lError):
    """No usable AWS credentials: the app opens the credentials screen."""


class QuotaError(D2lError):
    """A vCPU / instance-count limit stopped a launch: other zones won't help."""


class CapacityError(D2lError):
    """AWS has no capacity for the type in a zone: another zone may."""


class InputError(D2lError):
    """Bad input, refused before anything is sent."""


# Action names for UnauthorizedOperation messages, so we can say which IAM permission is missing.
_ACTION_NAMES = {
    "RunInstances": "ec2:RunInstances",
    "DescribeInstances": "ec2:DescribeInstances",
    "DescribeRegions": "ec2:DescribeRegions",
    "ImportKeyPair": "ec2:ImportKeyPair",
    "CreateSecurityGroup": "ec2:CreateSecurityGroup",
    "AuthorizeSecurityGroupIngress": "ec2:AuthorizeSecurityGroupIngress",
    "CreateTags": "ec2:CreateTags",
}


def from_client_error(exc: Any, operation: str = "") -> D2lError:
    """Turn a botocore ClientError into a sentence and a next step."""
    response = getattr(exc, "response", {}) or {}
    err = response.get("Error", {})
    code = error_code(exc)
    message = str(err.get("Message", "")).strip()
    request_id = str(response.get("ResponseMetadata", {}).get("RequestId", ""))
    op = operation or str(getattr(exc, "operation_name", "") or "")
    kw = {"code": code, "request_id": request_id}

    if code in ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
        action = _ACTION_NAMES.get(op, f"the {op} permission" if op else "a permission")
        return D2lError(
            f"Your AWS identity is not allowed to call {op or 'this API'} (missing {action}).",
            f"Ask your account admin to grant {action}, or use another --profile.",
            **kw,
        )
    if code in ("AuthFailure", "InvalidClientTokenId", "UnrecognizedClientException"):
        return CredentialsError(
            "AWS rejected your credentials.", "Run `aws configure` or pick another --profile.", **kw
        )
    if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
        return CredentialsError(
            "Your AWS session token has expired.",
            "Refresh it (`aws sso login --profile …` for SSO) and try again.",
            **kw,
        )
    if code == "InvalidKeyPair.NotFound":
        return D2lError(
            "That key pair does not exist in this region.",
            "Create a new key pair in the key step, or choose one listed there.",
            **kw,
        )
    if code == "InvalidBlockDeviceMapping":
        return D2lError(
            f"The disk size was refused: {message or 'it is smaller than the image.'}",
            "Go back to Storage and choose at least the image's snapshot size.",
            **kw,
        )
    if code in ("VcpuLimitExceeded", "InstanceLimitExceeded", "MaxSpotInstanceCountExceeded"):
        return QuotaError(
            "Your account's vCPU limit for this instance family in this region is too low for this type.",
            "Request a quota increase (Limits step); other zones won't help, since the limit is per region.",
            **kw,
        )
    if code == "InsufficientInstanceCapacity":
        return CapacityError(
            "AWS has no capacity for this instance type in this zone right now.",
            "Try another zone, a sibling size, spot, or again in a few minutes.",
            **kw,
        )
    if code == "OptInRequired":
        return D2lError(
            "This region (or the AMI's marketplace terms) needs an opt-in on your account.",
            "Enable the region in the AWS console (Account > AWS Regions) or choose another region.",
            **kw,
        )
    if code in ("RequestLimitExceeded", "Throttling", "ThrottlingException"):
        return D2lError("AWS is throttling requests from your account.", "Wait a minute and try again.", **kw)
    if code == "Unsupported":
        return CapacityError(
            "This instance type is not offered in the chosen zone.", "Choose another zone.", **kw
        )
    if code == "InvalidAMIID.NotFound" or code == "InvalidAMIID.Malformed":
        return D2lError(
            f"The image was not found in this region ({message}).",
            "Choose the Deep Learning AMI or Ubuntu in the Image step.",
            **kw,
        )
    text = message or code or "unknown error"
    return D2lError(f"AWS refused {op or 'the request'}: {text}", "See the log file for details.", **kw)


_WRITE_ERRNOS = {"ENOSPC", "EDQUOT", "EROFS", "EFBIG"}


def local_file_error(exc: BaseException) -> D2lError | None:
    """A file on this computer that couldn't be written or read (a full disk, a read-only or missing
    folder) as a sentence naming the file; None for anything else."""
    import errno

    if not isinstance(exc, OSError) or not exc.filename or not exc.strerror:
        return None
    name = errno.errorcode.get(exc.errno or 0, "")
    if name in _WRITE_ERRNOS:
        return D2lError(
            f"Could not write {exc.filename}: {exc.strerror}.", "Free some disk space, then try again."
        )
    return D2lError(
        f"Could not use {exc.filename}: {exc.strerror}.",
        "Check that its folder exists and is yours to write to, then try again.",
    )
