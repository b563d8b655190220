"""How commands print: tables for people (times in UTC, said so), JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from axiomd import liveness
from axiomd.errors import NotFound
from axiomd.timestamps import table_time
from axiomd.versioning import parse_label

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if not rows:
        print("(none)")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    for row in [list(headers), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


ts = table_time


def size(n: int) -> str:
    amount = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return str(n)


def label(text: str) -> int:
    """`v003` → 3, or NotFound saying what a label looks like."""
    try:
        return parse_label(text)
    except ValueError as exc:
        raise NotFound(str(exc)) from exc


@contextmanager
def progress_bar(total: int, what: str) -> Iterator[None]:
    """A progress bar on a terminal for long manual work (hashing, copying); nothing when
    the output is not a terminal, so scripts and logs stay clean."""
    if not sys.stderr.isatty() or total < 64 * 1024 * 1024:
        yield
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=what,
              file=sys.stderr, leave=False) as bar, liveness.shown(bar.update):
        yield
