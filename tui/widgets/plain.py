"""Text from outside the app shown exactly as it is, never read as markup.

Textual reads a str handed to Static, update(), notify(), OptionList options and DataTable cells as
markup: an instance named "[/]" raises MarkupError (at every start, from the remembered list), one
named "[bold]x" shows as a bold "x", "[link=…]" makes a link. Names, tags, AMI names, AWS error
messages, nvidia-smi process names, log lines and file paths all come from outside, so they go
through these helpers, which never parse anything: escaping is not enough (Rich's escape() leaves
"\\[" before a non-tag and a trailing backslash changed; Textual's parser reads backslashes its own
way), so outside text is wrapped, not escaped.
"""

from __future__ import annotations

from rich.text import Text
from textual.content import Content


def plain(text: object, style: str = "") -> Text:
    """`text` as it is, for Static(), update(), Option(), a DataTable cell or a Button label."""
    return Text(str(text), style=style, end="")


def assemble(*parts: str | tuple[str, str] | Text) -> Text:
    """Our own words (with a style) around outside text, with no markup anywhere:
    assemble("Type ", (name, "bold"), " and press Enter")."""
    return Text.assemble(*parts, end="")


def then_markup(outside: str, ours: str) -> Content:
    """Outside text as it is, followed by a markup string of our own ("  [dim]…[/dim]")."""
    return Content(outside) + Content.from_markup(ours)


def by_text(cells: tuple[object, ...] | object) -> tuple[str, ...]:
    """A DataTable sort key over plain cells: Text has no order of its own."""
    values = cells if isinstance(cells, tuple) else (cells,)
    return tuple(str(value) for value in values)
