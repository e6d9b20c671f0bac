"""One unit of work spanning several pipeline calls.

A batch of preference updates, or an erasure, must commit all of its writes
together: :meth:`Pipeline.unit_of_work` gives one store transaction whose
observer calls wait for the commit; nested uses join it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from cdp_plugin.pipeline import Pipeline


def unit_of_work(pipeline: Pipeline) -> AbstractContextManager[None]:
    """The pipeline's unit of work (see :meth:`Pipeline.unit_of_work`)."""
    return pipeline.unit_of_work()
