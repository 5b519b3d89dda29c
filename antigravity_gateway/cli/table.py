"""Text for the terminal: control characters escaped, tables fitted to the terminal's width.

Everything a table or a log line shows may come from outside (model names, upstream messages, labels):
:func:`clean` makes control characters visible (``\\x1b``, ``\\n``, ``\\u202e``) so that no value can move
the cursor, retitle the window or reorder the text. :func:`table` wraps the wide columns at word
boundaries to fit the terminal (never cutting a value off); output that is not a terminal is not wrapped
unless ``COLUMNS`` is set.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

# C0 and C1 controls, DEL, and the Unicode format characters that reorder or hide text.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_GAP = "  "
MIN_WRAP_WIDTH = 8
MAX_WORD = 40


def clean(value: object) -> str:
    """``value`` as text with every control character escaped (``"\\x1b]0;x\\x07"`` → ``\\x1b]0;x\\x07``)."""
    text = "" if value is None else str(value)
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def terminal_width() -> int | None:
    """The width to fit output to: ``COLUMNS`` when set, the terminal's when stdout is one, else none."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    align: str = "<"  # "<" or ">"
    wrap: bool = False  # may be narrowed (its text wrapped) to fit the terminal


def table(
    columns: Sequence[Column], rows: Sequence[Sequence[object]], *, width: int | None = None
) -> list[str]:
    """The rows under a header line, every cell cleaned; wrapping columns share the room left."""
    if width is None:
        width = terminal_width()
    cells = [[clean(value) for value in row] for row in rows]
    natural = [max([len(column.header), *(len(row[i]) for row in cells)]) for i, column in enumerate(columns)]
    longest_word = [
        max([len(w) for row in cells for w in row[i].split()] + [len(column.header)])
        for i, column in enumerate(columns)
    ]
    widths = _fit(columns, natural, longest_word, width)
    lines = [_join(columns, widths, [[c.header] for c in columns])]
    for row in cells:
        lines.append(_join(columns, widths, [_wrap(text, w) for text, w in zip(row, widths, strict=True)]))
    return [line for block in lines for line in block.split("\n")]


def _fit(
    columns: Sequence[Column], natural: list[int], longest_word: list[int], width: int | None
) -> list[int]:
    """Narrow the wrapping columns, widest first, down to their longest word (words are not split
    unless one is longer than ``MAX_WORD``): a table that still does not fit runs over the edge."""
    widths = list(natural)
    if width is None:
        return widths
    over = sum(widths) + len(_GAP) * (len(widths) - 1) - width
    flexible = [i for i, c in enumerate(columns) if c.wrap]
    while over > 0 and flexible:
        widest = max(flexible, key=lambda i: widths[i])
        floor = max(MIN_WRAP_WIDTH, min(longest_word[widest], MAX_WORD))
        if widths[widest] <= floor:
            flexible.remove(widest)
            continue
        widths[widest] -= 1
        over -= 1
    return widths


def _wrap(text: str, width: int) -> list[str]:
    if len(text) <= width or width <= 0:
        return [text]
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def _join(columns: Sequence[Column], widths: list[int], cells: list[list[str]]) -> str:
    height = max(len(c) for c in cells)
    out = []
    for n in range(height):
        parts = []
        for column, w, lines in zip(columns, widths, cells, strict=True):
            text = lines[n] if n < len(lines) else ""
            parts.append(text.rjust(w) if column.align == ">" else text.ljust(w))
        out.append(_GAP.join(parts).rstrip())
    return "\n".join(out)
