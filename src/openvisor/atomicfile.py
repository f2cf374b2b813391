"""Crash-safe file writes for device state.

A write goes to a temporary file in the same folder, is flushed and
fsynced, renamed over the target, and the folder is fsynced, so a process
killed at any instant leaves either the old or the new content, never a mix.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from openvisor.errors import StateError


def write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def remove(path: Path) -> None:
    """Delete ``path`` durably. A missing file is left alone, with no fsync."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries, so a rename inside it survives a power cut."""
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_json(path: Path, value: Any) -> None:
    """Replace ``path`` with ``value`` serialized as JSON, atomically."""
    write_bytes(path, json.dumps(value, indent=2, sort_keys=True).encode())


def read_json(path: Path, default: Any = None) -> Any:
    """Read a JSON file written by :func:`write_json`; ``default`` when it is missing."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return default
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StateError(
            f"state file {path} is not valid JSON ({exc}); remove it to reset that state"
        ) from exc
