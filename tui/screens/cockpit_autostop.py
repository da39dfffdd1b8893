"""The cockpit's auto-stop: the agent's own words in its header (read with the header's polls, over the
instance link) and `a` to change the setting on the running instance. A part of CockpitScreen, kept in
a file of its own (tui/screens/cockpit.py holds the panes and the lifecycle)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from textual import work

from tui.services.errors import D2lError

if TYPE_CHECKING:
    from textual.screen import Screen

    from tui.context import AppContext
    from tui.models import AutostopSetting, Instance
    from tui.services.remote.instance_link import Link

    _Base = Screen[None]
else:
    _Base = object

log = logging.getLogger(__name__)

AUTOSTOP_READ_S = 30.0  # the agent checks once a minute: reading it more often shows nothing new


class CockpitAutostop(_Base):
    """Mixed into CockpitScreen: the attributes and methods below are the cockpit's (declared for
    the type checker only, so none of them shadows the real ones at run time)."""

    if TYPE_CHECKING:
        ctx: AppContext
        instance: Instance
        instance_id: str
        gone: bool
        autostop_words: str | None
        _autostop_read_at: float

        @property
        def link(self) -> Link: ...

        def say(self, message: str, error: bool = False) -> None: ...

        def _show_instance(self) -> None: ...

    def _reached_before(self) -> bool:
        """Its host key is pinned (a pane or a launch connected): reading the agent for the header
        never waits on the console or asks to trust a key; a pane does that, where it is said."""
        from tui.services.remote.instance_link import known_hosts

        return bool(known_hosts().keys_for(self.instance_id))

    @work(exclusive=True, group="autostop", exit_on_error=False)
    async def read_autostop(self) -> None:
        from tui.flows.autostop import agent_words

        try:
            self.autostop_words = await agent_words(self.link)
        except Exception as exc:  # not reachable yet, or no agent: the header just says nothing
            log.info("auto-stop status of %s not read: %s", self.instance_id, exc)
            self.autostop_words = None
        self._show_instance()

    def action_autostop(self) -> None:
        from tui.screens.autostop_modal import AutostopModal

        if self.gone or self.instance.state != "running":
            self.say("Auto-stop is changed on the running instance: start it first (S).", error=True)
            return
        modal = AutostopModal(
            self.instance.name or self.instance_id, self.instance.spot, self.autostop_words or ""
        )
        self.app.push_screen(modal, self._autostop_chosen)

    def _autostop_chosen(self, setting: AutostopSetting | None) -> None:
        if setting is not None:  # None: Escape, nothing changes
            self.change_autostop(setting)

    @work(exclusive=True, group="autostop-change", exit_on_error=False)
    async def change_autostop(self, setting: AutostopSetting) -> None:
        from tui.flows import autostop

        self.say("Changing auto-stop on the instance…")
        self.workers.cancel_group(self, "autostop")  # a read now would only show the old setting
        self._autostop_read_at = float("inf")  # and none starts until the change is done
        try:
            plan, agent = await autostop.change(self.ctx.aws, self.link, self.instance, setting)
        except Exception as exc:
            if not isinstance(exc, D2lError):
                log.error("changing auto-stop on %s failed", self.instance_id, exc_info=exc)
            self._autostop_read_at = float("-inf")
            self.say(
                str(exc) if isinstance(exc, D2lError) else "Changing auto-stop failed; see the log file.",
                error=True,
            )
            return
        # Off is off: the agent's words may still be its last check's ("idle 18 of 30 min"), when
        # its timer held the lock and the one-off check after the change had nothing to add.
        self.autostop_words = agent.removeprefix("Agent: ") if setting.on else "auto-stop off"
        self._autostop_read_at = time.monotonic()
        self._show_instance()
        self.say(plan)
