"""Outside text through tui.widgets.plain comes out exactly as it went in, whatever it holds:
markup brackets, backslashes, NUL, a BOM, escape sequences, huge or deeply nested tags. Checked the
way each widget reads it: a Static or a DataTable cell turns it into Textual Content, and a title
with our own markup after it is parsed by Textual's markup parser.
"""

from __future__ import annotations

import random

import pytest
from rich.markup import escape
from rich.text import Text
from textual.content import Content
from textual.widgets._data_table import default_cell_formatter

from tui.widgets.plain import assemble, by_text, plain, then_markup

NASTY = [
    "[/]",
    "[bold]x",
    "[link=http://x]y[/link]",
    "[red",
    "\\[x]",
    "",
    "\\",
    "x\\",
    "[",
    "]",
    "[[x]]",
    "\x00",
    "\ufeffname",
    "a\x1b[31mred",
    "[@click=app.quit]q[/]",
    "[$accent]v",
    "[on red]x",
    "[ bold ]",
    "\\\\[b]x",
    "[1]",
    "é[/é]",
    "x" * 100_000,
    "[b]" * 2000 + "deep" + "[/b]" * 2000,
]


def cases() -> list[str]:
    rng = random.Random(13)
    alphabet = "[]/\\=@#$ ab:.\x00\ufeff\"'\n"
    made = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30))) for _ in range(1500)]
    return NASTY + made


@pytest.mark.parametrize("style", ["", "bold"])
def test_outside_text_comes_out_as_it_went_in(style: str) -> None:
    for text in cases():
        assert Content.from_rich_text(plain(text, style)).plain == text
        # What DataTable does with a cell before painting it.
        formatted = default_cell_formatter(plain(text))
        assert isinstance(formatted, Text) and formatted.plain == text
        assert then_markup(text, "  [dim](simulated)[/dim]").plain == text + "  (simulated)"
        assert assemble("Type ", (text, "bold"), " now").plain == f"Type {text} now"


def test_escaping_alone_would_not_do() -> None:
    # Why the helpers wrap rather than escape: Rich's escape() changes these.
    changed = [t for t in ("\\", "x\\", "b\\[\ufeff") if Text.from_markup(escape(t)).plain != t]
    assert changed


def test_sorting_plain_cells_is_by_their_text() -> None:
    rows = [
        (plain("us-west-2"), plain("b")),
        (plain("us-east-1"), plain("[/]")),
        (plain("us-east-1"), plain("a")),
    ]
    assert [by_text(r) for r in sorted(rows, key=by_text)] == [
        ("us-east-1", "[/]"),
        ("us-east-1", "a"),
        ("us-west-2", "b"),
    ]
