"""One writer per audit log: an exclusive lock held for the writer's lifetime.

Two processes appending to one log directory (two ``cdp-plugin run`` with the
same ``worker_id``) would interleave sequence numbers and break the log for
good: every later writer would refuse to open it. The writer therefore takes
``fcntl.flock(LOCK_EX | LOCK_NB)`` on ``writer.lock`` in the log directory
before it reads anything, and holds it until it closes. The kernel releases
it when the process dies, so a crash never leaves a stale lock. Readers
(verification, reports, subject export) take no lock: the log is append-only
and they ignore a line still being written.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from cdp_plugin.errors import ConfigError

WRITER_LOCK = "writer.lock"


class WriterLock:
    """The exclusive right to append to one audit log directory."""

    def __init__(self, directory: Path, origin: str) -> None:
        """Take the lock or raise :class:`ConfigError` naming the origin and directory.

        Raises ``OSError`` if the lock file cannot be created.
        """
        self._fd: int | None = os.open(directory / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._close()
            raise ConfigError(
                f"audit log {directory} is already open for writing by another process "
                f"with origin {origin!r}; give each process its own worker_id "
                "(--worker-id or CDP_PLUGIN_WORKER_ID)") from None
        except OSError:
            self._close()
            raise

    def release(self) -> None:
        """Give the lock up; later calls do nothing."""
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                self._close()

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
