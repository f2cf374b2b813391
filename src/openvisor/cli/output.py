"""Terminal output helpers: tables, JSON, sizes and times."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table


def to_plain(value: Any) -> Any:
    """Convert a record (dataclass, pydantic model, enum, datetime) into JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump"):
        return to_plain(value.model_dump())
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, Enum):
        return to_plain(value.value)
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def print_json(console: Console, value: Any) -> None:
    """Print ``value`` as one line of plain JSON (never wrapped or coloured), for scripts."""
    console.file.write(json.dumps(to_plain(value)) + "\n")


def format_time(value: datetime | str | None) -> str:
    """Format a timestamp as ``YYYY-MM-DD HH:MM:SS`` in UTC; text is shown as it came."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value.replace("T", " ").removesuffix("Z")
    return value.strftime("%Y-%m-%d %H:%M:%S")


def parse_time(value: str | None) -> datetime | None:
    """Parse the API's ``YYYY-MM-DDTHH:MM:SSZ`` timestamps (None stays None)."""
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")


def format_bytes(count: int | None) -> str:
    """Format a byte count with a binary unit, e.g. ``12.5 KiB``."""
    if count is None:
        return "-"
    size = float(count)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"


def format_seconds(seconds: float | None) -> str:
    """Format a duration like ``1.4 s`` or ``2 min 05 s``."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def text(value: Any) -> str:
    """Format one table cell."""
    if value is None or value == "":
        return "-"
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (list, tuple, set)):
        return ", ".join(text(v) for v in value) or "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    empty: str = "nothing to show",
    header: bool = True,
) -> Table:
    """Build a rich table; an empty one shows ``empty`` as its caption."""
    result = Table(title=title, title_justify="left", header_style="bold", show_header=header)
    for column in columns:
        result.add_column(column, overflow="fold")
    count = 0
    for row in rows:
        result.add_row(*(text(cell) for cell in row))
        count += 1
    if count == 0:
        result.caption = empty
    return result


def app_label(app_sid: str | None, names: Mapping[str, str | None]) -> str | None:
    """Name an app for a table: its unique name when it has one, else a shortened SID."""
    if not app_sid:
        return None
    name = names.get(app_sid)
    if name:
        return name
    return app_sid[:10] + "…"


@contextmanager
def live_view(console: Console, *, refresh_per_second: float = 8) -> Iterator[Live]:
    """A rich `Live` display that always ends its last line, even when output is not a terminal.

    On a terminal `Live` leaves the cursor below the display; written to a file
    or a pipe it prints the final render without a line end, so the next text
    would run on.
    """
    with Live(console=console, refresh_per_second=refresh_per_second, transient=False) as live:
        yield live
    if not console.is_terminal:
        console.file.write("\n")
