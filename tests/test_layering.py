"""tui/services never imports Textual: services stay usable from the CLI and testable without a UI."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import tui.services


def test_no_service_module_imports_textual() -> None:
    names = [f"tui.services.{m.name}" for m in pkgutil.iter_modules(tui.services.__path__)]
    assert "tui.services.aws" in names
    # A fresh interpreter where importing textual fails: any service that imports it breaks.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'textual' or name.startswith('textual.'):\n"
        "            raise ImportError('textual is blocked in services')\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for n in {names!r}:\n"
        "    __import__(n)\n"
        "print('ok', len(sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


def test_services_import_cleanly_in_process() -> None:
    for m in pkgutil.iter_modules(tui.services.__path__):
        importlib.import_module(f"tui.services.{m.name}")
