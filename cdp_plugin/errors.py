"""Typed errors. Messages name inputs (files, keys, field paths, plugins), never values."""

from __future__ import annotations

from collections.abc import Mapping


class CdpPluginError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(CdpPluginError):
    """The configuration (file, environment or arguments) is invalid."""


class InvalidEvent(CdpPluginError):
    """An event failed validation at the boundary.

    ``fields`` maps each offending field path to what is wrong with it; the
    field's value is never included.
    """

    def __init__(self, fields: Mapping[str, str], message_id: str | None = None) -> None:
        self.fields = dict(fields)
        self.message_id = message_id
        detail = "; ".join(f"{path}: {problem}" for path, problem in sorted(self.fields.items()))
        super().__init__(f"invalid event: {detail}")

    @property
    def reasons(self) -> tuple[str, ...]:
        """Stable reason codes, one per offending field: ``invalid:<path>``."""
        return tuple(f"invalid:{path}" for path in sorted(self.fields))


class RuleProblem:
    """One problem found in a rules file: where, and what is wrong."""

    __slots__ = ("file", "key", "line", "message")

    def __init__(self, file: str, key: str, message: str, line: int | None = None) -> None:
        self.file = file
        self.key = key
        self.message = message
        self.line = line

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.key}: {self.message}"

    def __repr__(self) -> str:
        return f"RuleProblem({self})"


class RulesError(CdpPluginError):
    """One or more rules files are invalid; nothing from them was applied."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class PluginError(CdpPluginError):
    """A plugin's hook raised; ``plugin`` and ``hook`` say which."""

    def __init__(self, plugin: str, hook: str, cause: BaseException) -> None:
        self.plugin = plugin
        self.hook = hook
        self.cause = cause
        super().__init__(f"plugin {plugin!r} failed in {hook}: {type(cause).__name__}")


class StorageError(CdpPluginError):
    """The store could not be opened, read or written."""


class AuditError(CdpPluginError):
    """The audit log could not be written; nothing may be forwarded."""
