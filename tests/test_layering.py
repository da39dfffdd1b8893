"""The floors hold: services never import Textual (usable from the CLI, testable without a UI), and
every import-linter contract in pyproject.toml is kept (ARCHITECTURE.md names them)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import tui.services

ROOT = Path(__file__).resolve().parent.parent


def test_no_service_module_imports_textual() -> None:
    names = service_modules()
    assert "tui.services.cloud.aws" in names and "tui.services.remote.ssh" in names
    assert_import_without_textual(names)


def service_modules() -> list[str]:
    """Every module under tui/services, its sub-packages (cloud/, remote/) included."""
    return [m.name for m in pkgutil.walk_packages(tui.services.__path__, "tui.services.") if not m.ispkg]


def assert_import_without_textual(names: list[str]) -> None:
    """A fresh interpreter where importing textual fails imports every module in ``names``."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'textual' or name.startswith('textual.'):\n"
        "            raise ImportError('textual is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for n in {names!r}:\n"
        "    __import__(n)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


def test_services_import_cleanly_in_process() -> None:
    for name in service_modules():
        importlib.import_module(name)


def test_import_linter_contracts_are_kept() -> None:
    # A fresh interpreter, so the contracts are checked against this checkout's tui (not an installed copy).
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    result = subprocess.run(
        [sys.executable, "-c", code, "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
