"""Shortening outside text (an error nvidia-smi printed, say) for one line, without cutting a word."""

from __future__ import annotations

ELLIPSIS = "…"


def shorten(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters: cut at the last word that fits, and "…" says
    so ("…present in your syste." read as if nvidia-smi had said that). A single word longer than
    the limit (a path, a hash) is cut inside it, still with "…"."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    room = max(0, limit - len(ELLIPSIS))
    cut = flat[: room + 1].rsplit(" ", 1)[0] if " " in flat[: room + 1] else flat[:room]
    return cut[:room].rstrip(" .,;:") + ELLIPSIS
