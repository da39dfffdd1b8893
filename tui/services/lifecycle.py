"""The instances the app manages, in every enabled region.

CONTRACT (implemented by the launch/CLI work):
"""

from __future__ import annotations

from tui.models import Instance
from tui.services.aws import Aws


def list_managed(aws: Aws, regions: list[str] | None = None) -> list[Instance]:
    """Instances tagged d2l-tui:managed=true (not terminated), regions queried concurrently."""
    raise NotImplementedError
