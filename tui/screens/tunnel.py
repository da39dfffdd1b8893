"""The cockpit's Jupyter pane: the tunnel's state, the URL, and the keys to use it.

The tunnel itself is not this screen's: it runs as an app-level worker held in the app's
``TunnelRegistry`` (tui.services.remote.tunnel_registry), so it keeps forwarding while the person goes
back to the instances (whose table shows its state) and comes back here. The pane reads the
registry and listens to it; ``t`` starts or stops the tunnel, ``J`` stops Jupyter on the instance,
``u`` copies the URL and ``b`` opens it (``c`` and ``o`` are the cockpit's ssh keys on every pane).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from tui.flows.tunnels import start_tunnel, stop_jupyter, stopped_words
from tui.models import TunnelStatus
from tui.screens.confirm import ConfirmationModal
from tui.services.errors import D2lError
from tui.widgets.ssh_failure import SshFailure

if TYPE_CHECKING:
    from textual.app import App

    from tui.services.remote.instance_link import Link
    from tui.services.remote.tunnel_registry import TunnelRegistry

log = logging.getLogger(__name__)

TUNNEL_CSS = """
#tunnel-state { height: auto; padding: 1 0 0 0; }
#tunnel-url { height: auto; padding: 1 0 0 0; }
#tunnel-detail { height: auto; color: $text-muted; padding: 1 0 0 0; }
#tunnel-detail.error { color: $error; text-style: bold; }
#tunnel-notice { height: auto; color: $warning; padding: 1 0 0 0; }
#tunnel-help { height: auto; color: $text-muted; padding: 1 0 0 0; }
"""
_STATE_TEXT = {
    "starting": "[bold $warning]● starting[/]",
    "up": "[bold $success]● up[/]",
    "reconnecting": "[bold $warning]● reconnecting[/]",
    "down": "[bold $error]● down[/]",
}


class JupyterPane(Vertical, can_focus=True):
    """One instance's Jupyter tunnel; its keys apply while the pane has focus."""

    DEFAULT_CSS = TUNNEL_CSS
    BINDINGS = [
        Binding(
            "t", "toggle_tunnel", "Start/stop tunnel", id="tunnel.toggle", tooltip="Forward Jupyter, or stop"
        ),
        Binding("u", "copy_url", "Copy URL", id="tunnel.copy", tooltip="Copy the URL with its token"),
        Binding("b", "open_browser", "Browser", id="tunnel.open", tooltip="Open the URL in a browser here"),
        Binding(
            "J",
            "stop_jupyter",
            "Stop Jupyter",
            id="tunnel.stop_jupyter",
            tooltip="Stop Jupyter on the instance (its kernels too)",
        ),
    ]

    def __init__(
        self,
        registry: TunnelRegistry,
        link: Link,
        instance_id: str,
        *,
        framework: str = "pytorch",
        local_port: int | None = None,
        start: bool = False,
    ) -> None:
        super().__init__()
        self.start_on_mount = start  # the instances screen's t: start (or keep) the tunnel, then show it
        self.registry = registry
        self.link = link
        self.instance_id = instance_id
        self.framework = framework
        self.local_port = local_port
        self.stopping_jupyter = False
        self._unsubscribe: Any = None

    @property
    def status(self) -> TunnelStatus | None:
        return self.registry.status(self.instance_id)

    def compose(self) -> ComposeResult:
        yield Static(Content(f"Jupyter on {self.link.label}"), classes="pane-title")
        yield Static("", id="tunnel-state")
        yield Static("", id="tunnel-url")
        yield Static("", id="tunnel-detail")
        yield Static("", id="tunnel-notice")
        yield Static(self._help(), id="tunnel-help")
        yield SshFailure()

    def _help(self) -> str:
        lines = [
            "Open the URL in a browser on this computer (b, or u to copy it). The tunnel keeps running "
            "when you leave the cockpit (Escape); t stops it. Jupyter itself keeps running on the instance until J stops it, "
            "so notebooks and kernels survive a dropped connection or closing d2l-tui."
        ]
        if self.link.simulated:
            lines.append(
                "Simulated instance: a small stand-in for Jupyter on the demo instance serves a page "
                "through the same forward (its `jupyter` from the demo's PATH, not ~/d2l/bin/jupyter)."
            )
        return "\n".join(lines)

    def on_mount(self) -> None:
        self._unsubscribe = self.registry.subscribe(self._changed)
        if self.start_on_mount:
            self.start_tunnel()  # kept when it is already running: one tunnel per instance
        self._show(self.status)

    def start_tunnel(self) -> None:
        # An app-level worker, not this screen's: the tunnel keeps forwarding after Escape.
        app = self.app
        label, group = f"tunnel {self.link.label}", f"tunnel-{self.instance_id}"

        def spawn(coro: Any) -> Any:
            return app.run_worker(coro, name=label, group=group, exit_on_error=False).cancel

        start_tunnel(
            self.registry,
            self.link,
            self.instance_id,
            spawn,
            framework=self.framework,
            local_port=self.local_port,
        )

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _changed(self, status: TunnelStatus) -> None:
        if status.instance_id == self.instance_id and self.is_mounted:
            self._show(status)

    def _show(self, status: TunnelStatus | None) -> None:
        # The URL, the folder, the detail and the notice come from the instance: Content, never markup
        # (rich's escape() is not exact for Textual's parser: a trailing backslash, say).
        if status is None:
            state = _STATE_TEXT["down"] + "  no tunnel yet"
            url = notice = Content()
            detail = Content("Press t to start Jupyter on the instance (if needed) and forward it here.")
        else:
            where = ""
            if status.local_port:
                where = f"  localhost:{status.local_port}"
                if status.remote_port:
                    where += f" → port {status.remote_port} on the instance"
            state = _STATE_TEXT[status.state] + where
            lines = []
            if status.url:
                lines.append(Content.assemble("URL      ", (status.url, "bold")))
            if status.root_dir and status.state != "down":
                lines.append(Content(f"Serving  {status.root_dir}"))
            url = Content("\n").join(lines)
            detail = Content(status.detail + self._error_hint(status))
            notice = Content(status.notice)
        for selector, content in (
            ("#tunnel-state", state),
            ("#tunnel-url", url),
            ("#tunnel-detail", detail),
            ("#tunnel-notice", notice),
        ):
            widget = self.query_one(selector, Static)
            widget.update(content)
            widget.display = bool(content)
        failed = status is not None and status.state == "down" and status.failed
        self.query_one("#tunnel-detail", Static).set_class(failed, "error")
        self.refresh_bindings()

    def _error_hint(self, status: TunnelStatus) -> str:
        from tui.services.remote.ssh import HostKeyUnknown

        tunnel = self.registry.tunnel(self.instance_id)
        if status.state == "down" and tunnel is not None and isinstance(tunnel.error, HostKeyUnknown):
            return " To trust it, open the Setup pane (l) and press t there."
        return ""

    # --- keys ------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        status = self.status
        if action in ("copy_url", "open_browser"):
            return True if status is not None and status.state == "up" and status.url else None
        if action == "stop_jupyter":
            return None if self.stopping_jupyter else True
        return True

    def action_toggle_tunnel(self) -> None:
        if self.registry.is_active(self.instance_id):
            self.registry.stop(self.instance_id)
            self.notify("Tunnel stopped. Jupyter keeps running on the instance.")
            return
        self.start_tunnel()

    def action_copy_url(self) -> None:
        status = self.status
        if status is None or not status.url:
            return
        self.app.copy_to_clipboard(status.url)  # OSC 52: works over SSH and without a display
        self.copy_with_pyperclip(status.url)
        self.notify(status.url, title="Copied to the clipboard", markup=False)

    @work(thread=True, group="clipboard", exit_on_error=False)
    def copy_with_pyperclip(self, text: str) -> None:
        from tui.services.clipboard import copy_text

        copy_text(text)

    def action_open_browser(self) -> None:
        status = self.status
        if status is not None and status.url:
            self.open_browser(status.url)

    @work(thread=True, group="tunnel-browser", exit_on_error=False)
    def open_browser(self, url: str) -> None:
        import webbrowser

        try:
            opened = webbrowser.open(url)
        except Exception as exc:  # webbrowser.Error, a broken BROWSER setting
            log.info("opening a browser failed: %s", type(exc).__name__)
            opened = False
        if opened:
            self.app.call_from_thread(self.notify, "Opened in your browser.")
        else:
            self.app.call_from_thread(
                self.notify,
                "No browser could be opened from here (over SSH, or no desktop). Press u to copy the URL "
                "and open it in a browser on the computer where the tunnel runs.",
                severity="warning",
                timeout=10,
            )

    def action_stop_jupyter(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.stop_jupyter()

        self.app.push_screen(_confirm_stop(self.link.label), answered)

    @work(group="tunnel-stop-jupyter", exit_on_error=False)
    async def stop_jupyter(self) -> None:
        self.stopping_jupyter = True
        self.refresh_bindings()
        try:
            stopped = await stop_jupyter(self.registry, self.link, self.instance_id)
        except Exception as exc:
            self._failed(exc, "Stopping Jupyter failed")
        else:
            self._hide_error()
            words = stopped_words(stopped, self.link.label)
            self.notify(words, markup=False)
            # The tunnel's own last words ("Jupyter keeps running … J stops it") are no longer true.
            detail = self.query_one("#tunnel-detail", Static)
            detail.update(Content(f"{words} t starts it again."))
            detail.display = True
        finally:
            self.stopping_jupyter = False
            self.refresh_bindings()

    def _failed(self, exc: BaseException, what: str) -> None:
        # No host-key choice here (t toggles the tunnel; the setup log is where a key is trusted).
        self.query_one(SshFailure).failed(exc, what, again="", offer_trust=False)

    def _hide_error(self) -> None:
        self.query_one(SshFailure).hide()


def _confirm_stop(label: str) -> ConfirmationModal:
    return ConfirmationModal(
        f"Stop Jupyter on {label}?",  # the modal shows it as plain text
        "Its kernels stop too: variables in running notebooks are lost (saved notebooks stay on the "
        "instance's disk). The tunnel closes. t starts Jupyter again.",
        yes="Stop Jupyter",
    )


def confirm_stop_jupyter(app: App[Any], registry: TunnelRegistry, link: Link, instance_id: str) -> None:
    """The instances screen's J (no tunnel screen open): ask, then stop Jupyter in an app-level
    worker (the confirmation closes before it ends); the outcome is a notification."""

    async def stop() -> None:
        try:
            stopped = await stop_jupyter(registry, link, instance_id)
        except D2lError as exc:
            log.warning("stopping Jupyter on %s: %s", link.label, exc)
            app.notify(str(exc), severity="error", timeout=10, markup=False)
            return
        except Exception as exc:
            log.error("stopping Jupyter on %s failed", link.label, exc_info=exc)
            app.notify("Stopping Jupyter failed; details are in the log file.", severity="error", timeout=10)
            return
        app.notify(stopped_words(stopped, link.label), markup=False)

    def answered(yes: bool | None) -> None:
        if yes:
            app.run_worker(
                stop(), name=f"stop jupyter {link.label}", group="tunnel-stop-jupyter", exit_on_error=False
            )

    app.push_screen(_confirm_stop(link.label), answered)
