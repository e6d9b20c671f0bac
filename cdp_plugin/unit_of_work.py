"""A pipeline's resources, hooks and unit of work, shared by everything it does.

The unit of work is the pipeline's one promise about time: a store
transaction whose audit records are flushed before it commits, and whose
observers hear of anything in it only after the commit (or never, if it
rolls back). Every public pipeline call runs in one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from cdp_plugin.audit.records import SegmentChanged
from cdp_plugin.hookpolicy import CdpPluginManager
from cdp_plugin.hookrunner import HookRunner
from cdp_plugin.runtime import Runtime
from cdp_plugin.types import SegmentChange

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The default clock: now, in UTC."""
    return datetime.now(UTC)


class PipelineCore:
    """The runtime, plugin manager, hooks and clock of a pipeline; its unit of
    work and its lifecycle. Calls ``cdp_configure`` when built (a failing
    plugin raises PluginError)."""

    def __init__(self, runtime: Runtime, pm: CdpPluginManager, clock: Clock = utcnow) -> None:
        self.runtime = runtime
        self.pm = pm
        self.clock = clock
        self.hooks = HookRunner(pm, runtime)
        self._closed = False
        self._depth = 0
        self.hooks.configure()

    def close(self) -> None:
        """Notify ``cdp_shutdown`` observers, checkpoint the audit log, close the store."""
        if self._closed:
            return
        self._closed = True
        try:
            self.hooks.shutdown()
        finally:
            try:
                self.runtime.audit_log.close()
            finally:
                self.runtime.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """Group pipeline calls so they commit together or not at all.

        One store transaction whose audit records are flushed before it
        commits; observers hear of anything in it only after the commit. A
        nested use joins the enclosing one. Whatever the block raises rolls
        everything back and is re-raised.
        """
        if self._closed:
            raise RuntimeError("the pipeline is closed")
        if self._depth:
            self._depth += 1
            try:
                with self.runtime.store.transaction():
                    yield
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            with self.runtime.store.transaction():
                yield
                self.runtime.audit_log.flush()
        except BaseException:
            self.hooks.discard()  # nothing was committed, so nothing to announce
            raise
        finally:
            self._depth = 0
        self.hooks.deliver()

    def _segments_changed(self, changes: Sequence[SegmentChange], cause: str) -> None:
        """Audit segment changes made outside an event decision; announce them."""
        for change in changes:
            self.hooks.audit(SegmentChanged(change.subject_key, change.segment, change.entered,
                                            change.active, change.at, cause))
            self.hooks.announce_segment_changed(change)
