"""tui/flows and tui/cli never import Textual: the headless commands start fast and work where
Textual can't draw (the app imports them, never the other way round)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import tui.cli
import tui.flows


def test_no_flow_or_cli_module_imports_textual() -> None:
    names = ["tui.cli", "tui.flows", "tui.context", "tui.demo.context"]
    for package in (tui.cli, tui.flows):
        names += [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
    assert "tui.cli.launch" in names and "tui.flows.launch_plan" in names
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'textual' or name.startswith('textual.'):\n"
        "            raise ImportError('textual is blocked in flows and cli')\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for n in {names!r}:\n"
        "    __import__(n)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
