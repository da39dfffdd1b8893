"""The wizard's breadcrumb, shaped like the EC2 console's launch steps."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

STEPS = ("Region", "Limits", "GPU type", "Image", "Storage", "Key pair", "Review", "Launch")


class StepHeader(Static):
    DEFAULT_CSS = """
    StepHeader { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self, current: int, simulated: bool) -> None:
        super().__init__(self._render_steps(current, simulated))

    @staticmethod
    def _render_steps(current: int, simulated: bool) -> Text:
        text = Text()
        if simulated:
            text.append(" SIMULATED CLOUD ", style="bold black on yellow")
            text.append("  ")
        for i, name in enumerate(STEPS):
            if i:
                text.append(" › ", style="dim")
            label = f"{i + 1} {name}"
            if i == current:
                text.append(label, style="bold reverse")
            elif i < current:
                text.append(label, style="green")
            else:
                text.append(label, style="dim")
        return text
