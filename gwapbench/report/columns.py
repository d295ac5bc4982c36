"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence


def format_columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned text columns separated by (at least) two spaces; no cell may hold two spaces in a row."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip()
                     for line in (header, *rows)) + "\n"
