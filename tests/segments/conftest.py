"""Fixtures for segmentation: fresh pipelines on temporary storage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from cdp_plugin.config import Config
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.types import SegmentChange

MakePipeline = Callable[..., Pipeline]


@pytest.fixture
def make_wired(config: Config) -> Iterator[MakePipeline]:
    """Pipelines on the test's temporary storage; closed afterwards."""
    made: list[Pipeline] = []

    def make(*plugins: object, **overrides: Any) -> Pipeline:
        pipeline = Pipeline.from_config(config.with_overrides(**overrides), plugins=plugins)
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.close()


def tick(pipeline: Pipeline, at: datetime) -> list[SegmentChange]:
    """``pipeline.tick(at)``."""
    return pipeline.tick(at)
