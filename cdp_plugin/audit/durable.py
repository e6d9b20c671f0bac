"""Small file operations the audit writer makes durable: whole writes, cuts and replacements.

Each function fsyncs what it changed when ``fsync`` is true (the directory
too, where a name changed), and raises ``OSError`` on failure, leaving the
caller to decide what a failure means for the log.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_all(fd: int, data: bytes, offset: int | None = None) -> None:
    """Write all of ``data`` to ``fd``: appended, or at ``offset`` with ``pwrite``."""
    view = memoryview(data)
    while view:
        if offset is None:
            written = os.write(fd, view)
        else:
            written = os.pwrite(fd, view, offset)
            offset += written
        view = view[written:]


def fsync_directory(directory: Path, fsync: bool) -> None:
    """Make a file created, renamed or removed in ``directory`` durable."""
    if fsync:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def truncate(path: Path, length: int, fsync: bool) -> None:
    """Cut ``path`` to ``length`` bytes."""
    with path.open("r+b") as stream:
        stream.truncate(length)
        if fsync:
            os.fsync(stream.fileno())


def replace(path: Path, data: bytes, fsync: bool) -> None:
    """Replace ``path`` atomically by a file holding ``data`` (mode 0644), via ``<name>.tmp``."""
    temporary = path.with_name(f"{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    fsync_directory(path.parent, fsync)
