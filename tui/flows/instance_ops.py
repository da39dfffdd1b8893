"""Stop, start, terminate and image an instance, and what follows each: once, for both doors.

AWS does the work (services/cloud/lifecycle). What follows once AWS accepted is decided here: an
instance that stops or goes away loses its `ssh d2l-NAME` alias (its address is released) and its
Jupyter tunnel (nothing answers there any more), and the list remembered for the next start
(services/instance_memory) gets its new state. These follow-ups never change the outcome: a local
file that can't be written is a notice, because the instance's state is what happened (a script
retrying on failure would stop or launch twice).

Blocking (boto3, local files): the app calls it from a thread worker, the CLI directly. A refusal
is the services' D2lError, raised for the caller to present; the outcome is a plain value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tui.services.cloud import lifecycle
from tui.services.remote import sshconfig

if TYPE_CHECKING:
    from tui.context import AppContext
    from tui.models import Instance
    from tui.services.cloud.aws import Aws
    from tui.services.remote.tunnel_registry import TunnelRegistry

log = logging.getLogger(__name__)

Action = Literal["stop", "start", "terminate"]
Notice = Callable[[str], None]
# Runs a call where the tunnel registry lives: the app's loop (the app hands call_from_thread, its
# tunnels being workers there), or right here (the CLI).
OnLoop = Callable[[Callable[[], object]], object]

# After these states the instance has no address and no tunnel: its alias and tunnel go.
_ENDED = frozenset({"stopping", "stopped", "shutting-down", "terminated"})
SIMULATED_IMAGE_POLL_S = 0.2  # moto's images are available at once: no reason to wait 5 s
IMAGE_POLL_S = 5.0  # CreateImage takes minutes; asking more often only costs API calls


def _ignore(_: str) -> None:
    pass


def _call_here(call: Callable[[], object]) -> object:
    return call()


@dataclass(frozen=True)
class Outcome:
    """What an operation did, for the door to present."""

    instance: Instance  # as AWS answered: its state now (pending, stopping, shutting-down, …)
    summary: str  # one sentence both doors can show: "book is stopping."
    image_id: str = ""  # create_image: the new image


@dataclass
class InstanceOps:
    aws: Aws
    key_dir: Path  # where the app's keys and its ssh config include live
    tunnels: TunnelRegistry | None = None
    cache_dir: Path | None = None  # the remembered instances list; None: nothing remembered
    on_notice: Notice = _ignore  # a local follow-up went wrong (a sentence, never the outcome)
    on_loop: OnLoop = _call_here

    @classmethod
    def of(cls, ctx: AppContext, *, on_notice: Notice = _ignore, on_loop: OnLoop = _call_here) -> InstanceOps:
        return cls(
            ctx.aws,
            ctx.key_dir,
            ctx.tunnels,
            cache_dir=ctx.cache_dir,
            on_notice=on_notice,
            on_loop=on_loop,
        )

    # -- the operations --------------------------------------------------------------------------

    def act(self, action: Action, instance: Instance) -> Outcome:
        """``stop``, ``start`` or ``terminate`` by name (the app's keys and the CLI's commands)."""
        call = {"stop": lifecycle.stop, "start": lifecycle.start, "terminate": lifecycle.terminate}[action]
        after = call(self.aws, instance)
        self._follow_up(after)
        return Outcome(after, f"{instance.name or instance.instance_id} is {after.state}.")

    def stop(self, instance: Instance) -> Outcome:
        return self.act("stop", instance)

    def start(self, instance: Instance) -> Outcome:
        return self.act("start", instance)

    def terminate(self, instance: Instance) -> Outcome:
        return self.act("terminate", instance)

    def create_image(
        self,
        instance: Instance,
        name: str | None = None,
        *,
        terminate_after: bool = False,
        progress: Notice = _ignore,
        cancelled: Callable[[], bool] = lambda: False,
        poll_interval: float | None = None,
    ) -> Outcome:
        """Make an image (``name``, else NAME-YYYYmmdd-HHMM) and wait until it is available; with
        ``terminate_after``, then terminate the instance (never after a failure)."""
        name = name or lifecycle.default_image_name(instance)
        if poll_interval is None:
            poll_interval = SIMULATED_IMAGE_POLL_S if self.aws.simulated else IMAGE_POLL_S
        image_id = lifecycle.create_image(
            self.aws,
            instance,
            name,
            progress=progress,
            cancelled=cancelled,
            poll_interval=poll_interval,
            terminate_after=terminate_after,
        )
        summary = f"Image {image_id} ({name}) is available under My AMIs."
        after = instance
        if terminate_after:
            # create_image terminated it; AWS answers shutting-down (the table refreshes from AWS).
            after = _with_state(instance, "shutting-down")
            self._follow_up(after)
            summary += f" {instance.name or instance.instance_id} is being terminated."
        return Outcome(after, summary, image_id)

    # -- what follows ----------------------------------------------------------------------------

    def _follow_up(self, after: Instance) -> None:
        if after.state in _ENDED:
            self._drop_alias(after.instance_id)
            if self.tunnels is not None:
                tunnels = self.tunnels
                self.on_loop(lambda: tunnels.stop(after.instance_id))
        self._remember(after)

    def _drop_alias(self, instance_id: str) -> None:
        """The instance's `ssh d2l-NAME` entry goes: its address is released."""
        include = sshconfig.include_path(self.key_dir)
        try:
            sshconfig.remove(include, instance_id, on_notice=self.on_notice)
        except OSError as exc:
            log.warning("ssh config include %s not updated after %s: %s", include, instance_id, exc)
            self.on_notice(
                f"The ssh config include {include} could not be updated ({exc.strerror or exc}); "
                "`ssh` may still list it."
            )

    def _remember(self, after: Instance) -> None:
        from tui.services import instance_memory

        scope = instance_memory.scope_for(self.aws)
        if self.cache_dir is None or scope is None:
            return
        try:
            instance_memory.note_change(self.cache_dir, scope, after, on_notice=self.on_notice)
        except Exception as exc:  # a cache for the first paint: never worth a failure
            log.warning("the remembered list not updated after %s: %s", after.instance_id, exc)


def _with_state(instance: Instance, state: str) -> Instance:
    from dataclasses import replace

    return replace(instance, state=state, public_dns="", public_ip="")
