"""The segments part of the :class:`~cdp_plugin.storage.base.Store` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import date

from cdp_plugin.storage.records import SegmentDay, Tally


class SegmentStore(ABC):
    """Segments: running tallies, sizes and daily churn.

    Every failure raises :class:`~cdp_plugin.errors.StorageError`.
    """

    @abstractmethod
    def add_tally(self, name: str, count: int, total: float) -> Tally:
        """Add ``count`` and ``total`` to the tally ``name`` (created at zero) and
        return it as it now stands.

        Concurrent additions are never lost. Raises StorageError on failure,
        including a total that is not a finite number.
        """

    @abstractmethod
    def get_tally(self, name: str) -> Tally:
        """The tally ``name``; zero if there is none. Raises StorageError on failure."""

    @abstractmethod
    def count_segment_change(self, segment: str, day: date, entered: int, exited: int) -> int:
        """Count ``entered`` entries and ``exited`` exits of ``segment`` on ``day``
        and return the segment's new size (its entries minus its exits, ever).

        The day's row keeps the sums and the size after this change. Raises
        StorageError on failure.
        """

    @abstractmethod
    def segment_sizes(self) -> dict[str, int]:
        """Every segment that ever changed, with its current size.

        Raises StorageError on failure.
        """

    @abstractmethod
    def segment_days(self, since: date | None = None) -> list[SegmentDay]:
        """Daily entries, exits and sizes from ``since`` (included) on, or all,
        ordered by segment then day. Raises StorageError on failure.
        """
