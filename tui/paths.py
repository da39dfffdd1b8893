"""Where local files live (XDG dirs via platformdirs). AWS is the source of truth; these only cache."""

from __future__ import annotations

from pathlib import Path

from platformdirs import PlatformDirs

_dirs = PlatformDirs("d2l-tui", appauthor=False)


def config_dir() -> Path:
    return Path(_dirs.user_config_dir)


def cache_dir() -> Path:
    """Prices and the instance-type catalog."""
    return Path(_dirs.user_cache_dir)


def state_dir() -> Path:
    """known_hosts and logs."""
    return Path(_dirs.user_state_dir)


def log_file() -> Path:
    return state_dir() / "d2l-tui.log"
