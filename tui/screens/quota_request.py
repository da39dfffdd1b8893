"""A modal to request a higher vCPU limit without leaving the app (the console sends you elsewhere)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from tui.models import Purchase, Quota
from tui.services.cloud.quota_requests import Filed
from tui.services.errors import D2lError
from tui.widgets.plain import assemble, plain

if TYPE_CHECKING:
    from tui.context import AppContext

log = logging.getLogger(__name__)

BUCKET_NAMES = {"G": "G and VT", "P": "P", "Standard": "Standard (A, C, D, H, I, M, R, T, Z)"}


def number(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g}"


class QuotaRequestScreen(ModalScreen[Filed | None]):
    """Dismissed with what AWS now holds (a new request, or the one already open), or None."""

    DEFAULT_CSS = """
    QuotaRequestScreen { align: center middle; }
    #quota-request { width: 80; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
    #quota-request Input { margin: 1 0; }
    #request-error { color: $error; height: auto; }
    #request-buttons { height: auto; align-horizontal: right; }
    #request-buttons Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="quota_request.cancel", tooltip="Close without sending"),
    ]

    def __init__(
        self,
        ctx: AppContext,
        region: str,
        bucket: str,
        purchase: Purchase,
        quota: Quota | None,
        vcpus: int,
        for_type: str = "",
    ) -> None:
        from tui.services.cloud.quota_requests import desired_default, quota_code

        super().__init__()
        self.ctx = ctx
        self.aws_region = region
        self.bucket = bucket
        self.purchase = purchase
        self.quota = quota
        self.code = quota_code(bucket, purchase)
        self.vcpus = vcpus
        self.for_type = for_type
        self.prefill = desired_default(quota, vcpus)

    def compose(self) -> ComposeResult:
        current = self.quota.value if self.quota is not None else None
        usage = self.quota.usage if self.quota is not None else None
        need = (
            f"{self.for_type} needs {self.vcpus}"
            if self.for_type
            else f"the smallest size needs {self.vcpus}"
        )
        with Vertical(id="quota-request"):
            yield Static(
                assemble(
                    ("Request a higher limit", "bold"),
                    f": {BUCKET_NAMES.get(self.bucket, self.bucket)} instances, "
                    f"{self.purchase.value} ({self.code}) in {self.aws_region}",
                ),
                id="request-title",
            )
            yield Static(
                f"Limit now: {number(current)} vCPUs, {number(usage)} in use; {need}. "
                "New limit in vCPUs (usage + the type you want, prefilled):"
            )
            yield Input(f"{self.prefill:g}", id="desired", type="integer")
            yield Static(
                "AWS usually decides within a business day; the status shows on the limits step.",
                id="request-note",
            )
            yield Static("", id="request-error")
            with Horizontal(id="request-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Send request", id="send", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#desired", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_send()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "send":
            self.action_send()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_send(self) -> None:
        from tui.services.cloud.quota_requests import validate_desired

        current = self.quota.value if self.quota is not None else None
        try:
            desired = validate_desired(self.query_one("#desired", Input).value, current)
        except D2lError as exc:
            self.query_one("#request-error", Static).update(plain(str(exc)))  # quotes what was typed
            return
        self.query_one("#request-error", Static).update("Sending …")
        self.query_one("#send", Button).disabled = True
        self.send(desired)

    @work(exclusive=True, group="quota-request", exit_on_error=False)
    async def send(self, desired: float) -> None:
        from tui.services.cloud.quota_requests import request_increase

        try:
            filed = await asyncio.to_thread(
                request_increase, self.ctx.aws, self.aws_region, self.code, desired
            )
        except Exception as exc:
            if isinstance(exc, D2lError):
                log.warning("quota request failed: %s (code=%s)", exc, exc.code)
                message = str(exc)
            else:
                log.error("quota request failed", exc_info=exc)
                message = "The request could not be sent. Details are in the log file."
            self.query_one("#request-error", Static).update(plain(message))  # AWS's words: plain
            self.query_one("#send", Button).disabled = False
            return
        request = filed.request
        if filed.duplicate:
            self.notify(
                f"A request for {request.desired_value:g} vCPUs is already {request.status}; not filed twice.",
                title="Already requested",
                markup=False,
            )
        else:
            self.notify(
                f"{request.desired_value:g} vCPUs requested: {request.status}.",
                title="Request sent",
                markup=False,
            )
        self.dismiss(filed)
