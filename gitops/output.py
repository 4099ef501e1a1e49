"""What the CLI prints: JSON for pipelines on stdout, a rich table on a terminal, plain lines
otherwise (CodeBuild logs and pipes get no colour codes or box drawing)."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def print_line(text: str) -> None:
    sys.stdout.write(text + "\n")


def print_notice(text: str) -> None:
    """A note or warning beside the result: on stderr, so stdout stays the result (JSON)."""
    sys.stderr.write(text + "\n")


def print_table(headers: list[str], rows: list[list[str]], highlighted: set[int],
                title: str | None = None) -> None:
    """`rows` under `headers`; on a terminal, rows whose index is in `highlighted` are bold yellow
    (plain output has no styling, so callers also say it in a cell)."""
    if sys.stdout.isatty():
        # rich is imported only for a terminal: pipelines pay nothing for it.
        from rich.console import Console
        from rich.table import Table

        table = Table(*headers, title=title)
        for i, row in enumerate(rows):
            table.add_row(*row, style="bold yellow" if i in highlighted else None)
        Console().print(table)
        return
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    if title:
        print_line(title)
    for row in [headers, *rows]:
        print_line("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
