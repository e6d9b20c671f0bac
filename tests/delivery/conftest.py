"""The storage suite's PostgreSQL fixture, for the postgres delivery target."""

from tests.storage.conftest import postgres_target

__all__ = ["postgres_target"]
