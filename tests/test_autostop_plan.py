"""Auto-stop's launch plan (tui/flows/autostop.py): what a person may type, refused input as one
sentence that says what to type instead, the default, and what the plan says for spot."""

from __future__ import annotations

import pytest

from tests.test_launch import spec_for
from tui.flows import autostop
from tui.models import AutostopConfig, AutostopSetting, KeyChoice
from tui.services.cloud.launch import USER_DATA_LIMIT_BYTES, run_instances_params, user_data_problem
from tui.services.errors import D2lError
from tui.services.remote.autostop import autostop_user_data

KEY = KeyChoice(name="d2l-tui", private_key_path=None)


@pytest.mark.parametrize(
    ("typed", "minutes"),
    [
        ("30m", 30),
        ("1h", 60),
        ("90", 90),
        ("off", None),
        ("OFF", None),
        ("2h", 120),
        ("1.5h", 90),
        ("45 min", 45),
    ],
)
def test_durations_a_person_types(typed: str, minutes: int | None) -> None:
    assert autostop.parse_idle(typed) == minutes


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("0", "too short"),
        ("5m", "too short"),
        ("-5m", "is not a duration"),
        ("abc", "is not a duration"),
        ("100000h", "too long"),
        ("13h", "too long"),
        ("10.5", "whole number of minutes"),
    ],
)
def test_bad_durations_are_refused_with_what_to_type(typed: str, words: str) -> None:
    with pytest.raises(ValueError) as info:
        autostop.parse_idle(typed)
    sentence = str(info.value)
    assert words in sentence and repr(typed) in sentence
    assert "off" in sentence  # the way out is always named
    assert sentence.endswith(".") and "\n" not in sentence


@pytest.mark.parametrize(("typed", "hours"), [("8", 8.0), ("8h", 8.0), ("1.5", 1.5), ("168", 168.0)])
def test_max_hours(typed: str, hours: float) -> None:
    assert autostop.parse_max_hours(typed) == hours


@pytest.mark.parametrize("typed", ["0", "-1", "169", "abc", "1e3"])
def test_bad_max_hours_are_refused(typed: str) -> None:
    with pytest.raises(ValueError, match="hours"):
        autostop.parse_max_hours(typed)


def test_on_by_default_for_thirty_minutes() -> None:
    assert autostop.DEFAULT_AUTOSTOP == AutostopSetting(idle_minutes=30) and autostop.DEFAULT_AUTOSTOP.on
    assert autostop.DEFAULT_AUTOSTOP.tag_value == "30m"
    assert AutostopSetting(None, 8).tag_value == "off max 8h" and not AutostopSetting().on


def test_the_plan_says_stop_on_demand_and_terminate_on_spot() -> None:
    setting = AutostopSetting(45, 8)
    on_demand = autostop.describe(setting, spot=False)
    assert "stops (its disk stays" in on_demand and "45 min idle" in on_demand and "8 h after" in on_demand
    spot = autostop.describe(setting, spot=True)
    assert "terminates (its disk is deleted)" in spot and "idle means terminate" in spot
    assert autostop.describe(AutostopSetting(), spot=True).startswith("Off:")


def test_spot_needs_agreement_only_when_auto_stop_is_on() -> None:
    assert autostop.spot_problem(True, autostop.DEFAULT_AUTOSTOP, agreed=False)
    assert autostop.spot_problem(True, autostop.DEFAULT_AUTOSTOP, agreed=True) is None
    assert autostop.spot_problem(True, AutostopSetting(), agreed=False) is None
    assert autostop.spot_problem(False, autostop.DEFAULT_AUTOSTOP, agreed=False) is None


def test_user_data_installs_the_agent_on_or_off_and_fits_16_kb() -> None:
    on = autostop.with_autostop(spec_for(KEY), AutostopSetting(45, 8))
    params = run_instances_params(on, "sg-0abc", "tok-1")
    assert params["UserData"] == "#!/bin/bash\n" + autostop_user_data(
        AutostopConfig(idle_minutes=45, max_hours=8)
    )
    assert len(params["UserData"].encode()) <= USER_DATA_LIMIT_BYTES == 16384
    assert params["InstanceInitiatedShutdownBehavior"] == "stop"
    instance_tags = {t["Key"]: t["Value"] for t in params["TagSpecifications"][0]["Tags"]}
    assert instance_tags["d2l-tui:autostop"] == "45m max 8h"

    # Off still installs the agent, switched off, so `d2l-tui autostop NAME 30m` can turn it on later.
    off = autostop.with_autostop(spec_for(KEY), AutostopSetting())
    params = run_instances_params(off, "sg-0abc", "tok-1")
    assert params["UserData"] == "#!/bin/bash\n" + autostop_user_data(
        AutostopConfig(idle_minutes=0, max_hours=0)
    )
    assert params["InstanceInitiatedShutdownBehavior"] == "stop"
    assert "d2l-tui:autostop" not in {t["Key"] for t in params["TagSpecifications"][0]["Tags"]}
    spot = run_instances_params(spec_for(KEY, spot=True), "sg-0abc", "tok-1")
    assert spot["InstanceInitiatedShutdownBehavior"] == "terminate"


def test_user_data_over_16_kb_is_refused_before_run_instances() -> None:
    assert user_data_problem("x" * USER_DATA_LIMIT_BYTES) is None
    too_big = "é" * (USER_DATA_LIMIT_BYTES // 2 + 1)  # 2 bytes each in UTF-8: the limit counts bytes
    assert "16,384 bytes" in (user_data_problem(too_big) or "")
    import dataclasses

    spec = dataclasses.replace(autostop.with_autostop(spec_for(KEY), AutostopSetting(30)), user_data=too_big)
    with pytest.raises(D2lError, match="at most 16,384 bytes"):
        run_instances_params(spec, "sg-0abc", "tok-1")
