"""tui/flows and tui/cli never import Textual: the headless commands start fast and work where
Textual can't draw (the app imports them, never the other way round)."""

from __future__ import annotations

import pkgutil

import tui.cli
import tui.flows
from tests.test_layering import assert_import_without_textual


def test_no_flow_or_cli_module_imports_textual() -> None:
    names = ["tui.cli", "tui.flows", "tui.context", "tui.demo.context"]
    for package in (tui.cli, tui.flows):
        names += [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
    assert "tui.cli.launch" in names and "tui.flows.launch_plan" in names
    for flow in ("instance_ops", "provisioning", "reach", "tunnels"):
        assert f"tui.flows.{flow}" in names
    assert_import_without_textual(names)
