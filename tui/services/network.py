"""The security group: SSH (TCP 22) open only to the user's own /32.

CONTRACT (implemented by the images/keys/network work):
"""

from __future__ import annotations

from tui.services.aws import Aws

CHECKIP_URL = "https://checkip.amazonaws.com"


def detect_public_ip(timeout: float = 3.0, url: str = CHECKIP_URL) -> str | None:
    """The user's public IPv4 address, or None when it can't be looked up."""
    raise NotImplementedError


def validate_cidr(text: str) -> tuple[str, str | None]:
    """(normalized CIDR, warning or None). A bare IP becomes /32. 0.0.0.0/0 gives a warning.
    Raises InputError with a sentence for anything else."""
    raise NotImplementedError


def ensure_ssh_security_group(aws: Aws, region: str, cidr: str) -> str:
    """A managed security group in the default VPC allowing TCP 22 from ``cidr`` only; reused when one
    with exactly that rule exists. Returns its id."""
    raise NotImplementedError
