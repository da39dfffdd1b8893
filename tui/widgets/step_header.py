"""The wizard's breadcrumb, shaped like the EC2 console's launch steps.

Every step's name needs about 100 columns; narrower (80), the other steps keep only their
numbers, so where you are and how many steps are left still show, instead of a cut-off line.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static

STEPS = ("Region", "Limits", "GPU type", "Image", "Storage", "Key pair", "Review", "Launch")


class StepHeader(Static):
    DEFAULT_CSS = """
    StepHeader { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self, current: int, simulated: bool) -> None:
        self.current = current
        self.simulated = simulated
        super().__init__(self._render_steps(current, simulated))

    def on_resize(self) -> None:
        full = self._render_steps(self.current, self.simulated)
        fits = cell_len(full.plain) <= self.content_size.width
        self.update(full if fits else self._render_steps(self.current, self.simulated, names=False))

    @staticmethod
    def _render_steps(current: int, simulated: bool, *, names: bool = True) -> Text:
        """``names`` False: only the current step is named, the others are numbers."""
        text = Text()
        if simulated:
            text.append(" SIMULATED CLOUD ", style="bold black on yellow")
            text.append("  ")
        for i, name in enumerate(STEPS):
            if i:
                text.append(" › ", style="dim")
            label = f"{i + 1} {name}" if names or i == current else f"{i + 1}"
            if i == current:
                text.append(label, style="bold reverse")
            elif i < current:
                text.append(label, style="green")
            else:
                text.append(label, style="dim")
        return text
