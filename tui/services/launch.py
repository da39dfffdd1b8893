"""LaunchSpec -> RunInstances, exactly once, then follow the instance until it is reachable.

CONTRACT (implemented by the launch/CLI work):
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tui.models import Instance, LaunchProgress, LaunchSpec
from tui.services.aws import Aws


def run_instances_params(spec: LaunchSpec, security_group_id: str, client_token: str) -> dict[str, Any]:
    """The exact RunInstances parameters (the Review step shows them)."""
    raise NotImplementedError


def instance_from_api(data: dict[str, Any], region: str) -> Instance:
    raise NotImplementedError


def find_by_client_token(aws: Aws, region: str, client_token: str) -> Instance | None:
    raise NotImplementedError


def launch(
    aws: Aws,
    spec: LaunchSpec,
    progress: Callable[[LaunchProgress], None],
    *,
    client_token: str | None = None,
    poll_interval: float = 3.0,
    cancelled: Callable[[], bool] = lambda: False,
) -> Instance:
    """Key pair, security group, RunInstances (never twice for one token), then poll until running with
    a public DNS name and status checks passed (or cancelled). Each step is reported to ``progress``."""
    raise NotImplementedError
