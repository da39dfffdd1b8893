"""tests/support/pilot_pace.py's setting is what Pilot's idle wait reads: if Textual renames or
stops reading the constants, this fails instead of every UI test silently waiting 4x longer."""

from __future__ import annotations

import textual._wait
from textual.pilot import Pilot

from tests.support.pilot_pace import GRANULE_S


def test_pilot_waits_in_the_granules_the_suite_sets() -> None:
    assert textual._wait.SLEEP_GRANULARITY == GRANULE_S
    assert textual._wait.SLEEP_IDLE == GRANULE_S / 20
    names = textual._wait.wait_for_idle.__code__.co_names
    assert "SLEEP_GRANULARITY" in names and "SLEEP_IDLE" in names
    # Pilot presses keys through App._press_keys, which waits with this function.
    from textual import app

    assert app.wait_for_idle is textual._wait.wait_for_idle
    assert "_press_keys" in Pilot.press.__code__.co_names
