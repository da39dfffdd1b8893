"""Pilot's wait after each key, in 5 ms steps instead of 20 ms.

After every key it sends, Textual's Pilot calls textual._wait.wait_for_idle twice: sleep one
granule (SLEEP_GRANULARITY, 1/50 s), and again until a granule passes with under 1/20 of it spent
on this process's CPU. Every key thus costs at least 40 ms of waiting, most of it after the app is
already idle: a test that types a CIDR or a few names waits seconds for nothing (the wizard-input
and review tests: 37 s -> 22 s). With 1/200 s granules the rule is the same (a quiet window with
under 5 % CPU, then Pilot's own wait for every message queue to drain); the quiet window is just
shorter. No public setting exists (Textual 8.2): the module's two constants are set, and
tests/test_pilot_pace.py fails if Textual stops reading them.
"""

from __future__ import annotations

import textual._wait

GRANULE_S = 1 / 200


def quicker_pilot_waits() -> None:
    textual._wait.SLEEP_GRANULARITY = GRANULE_S
    textual._wait.SLEEP_IDLE = GRANULE_S / 20.0
