"""A snapshot that does not match prints what differs, as text, into the test's failure report.

pytest-textual-snapshot only writes an HTML report next to the run, which a CI log does not carry:
a snapshot that fails once in many runs on another machine must say there what it saw.
"""

from __future__ import annotations

import difflib
import html
import pickle
import re
from typing import Any

import pytest
from pytest_textual_snapshot import node_to_report_path

_TEXT = re.compile(r'<text class="[^"]*"[^>]*\by="([\d.]+)"[^>]*>(.*?)</text>', re.S)


def screen_lines(svg: str) -> list[str]:
    """The characters of a Textual SVG screenshot, one string per terminal row."""
    rows: dict[float, list[str]] = {}
    for y, text in _TEXT.findall(svg):
        rows.setdefault(float(y), []).append(html.unescape(text))
    return ["".join(parts).replace("\xa0", " ").rstrip() for _, parts in sorted(rows.items())]


def describe_mismatch(expected: str, actual: str) -> str:
    diff = list(
        difflib.unified_diff(
            screen_lines(expected), screen_lines(actual), "snapshot", "this run", lineterm="", n=1
        )
    )
    if diff:
        return "\n".join(diff)
    return "Same characters on screen: the difference is in colours or styles (see snapshot_report.html)."


@pytest.fixture
def snap_compare(snap_compare: Any, request: pytest.FixtureRequest) -> Any:
    """The plugin's snap_compare, plus the text of the difference printed when it does not match."""

    def compare(*args: Any, **kwargs: Any) -> bool:
        matched = bool(snap_compare(*args, **kwargs))
        if not matched:
            # What the plugin saved for its HTML report: (result, expected svg, actual svg, ...).
            saved = pickle.loads(node_to_report_path(request.node).read_bytes())
            print("\nThe screen differs from its snapshot:\n" + describe_mismatch(saved[1], saved[2]))
        return matched

    return compare
