"""Load the rules directory: read, parse, validate and cross-check all the files at once.

:func:`load_rules` either returns a complete :class:`RuleSet` or raises one
:class:`RulesError` listing every problem in every file, each with the file,
the dotted key path and, where the YAML shows it, the line.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import yaml
from marshmallow import Schema, ValidationError

from cdp_plugin.errors import RuleProblem, RulesError
from cdp_plugin.rules.model import ExperimentRules, RuleSet
from cdp_plugin.rules.retention import (
    RETENTION_FILE,
    RetentionFileSchema,
    RetentionRules,
    longest_cap_days,
)
from cdp_plugin.rules.schemas import (
    JurisdictionsFileSchema,
    MinimizationFileSchema,
    PurposesFileSchema,
    SegmentsFileSchema,
)
from cdp_plugin.rules.schemas.experiments import ExperimentsFileSchema

PURPOSES_FILE = "purposes.yaml"
JURISDICTIONS_FILE = "jurisdictions.yaml"
MINIMIZATION_FILE = "minimization.yaml"
SEGMENTS_FILE = "segments.yaml"
EXPERIMENTS_FILE = "experiments.yaml"
RULE_FILES: tuple[str, ...] = (PURPOSES_FILE, JURISDICTIONS_FILE, MINIMIZATION_FILE, SEGMENTS_FILE)
OPTIONAL_FILES: tuple[str, ...] = (RETENTION_FILE, EXPERIMENTS_FILE)
"""Files that may be absent (their defaults apply); when present they are validated too."""

WHOLE_FILE = "<file>"
"""The key reported for problems that concern a whole file (missing, unparsable, empty)."""

_KeyPath = tuple[Any, ...]


def load_rules(directory: str | os.PathLike[str], extra_features: Collection[str] = ()) -> RuleSet:
    """Load ``purposes.yaml``, ``jurisdictions.yaml``, ``minimization.yaml`` and
    ``segments.yaml``, and ``retention.yaml`` and ``experiments.yaml`` when present
    (defaults otherwise; no experiments without the file).

    ``extra_features`` extends the features segment conditions may use beyond
    the core ones and those the ``counts`` section provides.

    The result's ``file_hashes`` maps each file name to the SHA-256 (hex) of its
    bytes, and ``version`` is the first 16 hex digits of the SHA-256 over the
    lines ``<name>\\0<hash>\\n`` in name order, so any edit changes it.

    Raises :class:`RulesError` with every problem found (a missing or unreadable
    file, a YAML syntax error, a duplicate key, an unknown key, a wrong type, a
    reference to something undefined, a condition that does not compile);
    nothing is returned half-loaded.
    """
    base = os.fspath(directory)
    names = RULE_FILES + OPTIONAL_FILES
    found: dict[str, list[RuleProblem]] = {name: [] for name in names}
    documents: dict[str, _Document] = {}
    for name in names:
        path = os.path.join(base, name)
        if name in OPTIONAL_FILES and not os.path.exists(path):
            continue
        document = _read(path, found[name])
        if document is not None:
            documents[name] = document

    purposes_document = documents.get(PURPOSES_FILE)
    known_purposes = _declared_purposes(purposes_document)
    schemas: dict[str, Schema] = {
        PURPOSES_FILE: PurposesFileSchema(),
        JURISDICTIONS_FILE: JurisdictionsFileSchema(),
        MINIMIZATION_FILE: MinimizationFileSchema(known_purposes,
                                                  _declared_destinations(purposes_document)),
        SEGMENTS_FILE: SegmentsFileSchema(known_purposes, extra_features),
        RETENTION_FILE: RetentionFileSchema(longest_cap_days(
            purposes_document.data if purposes_document else None)),
        EXPERIMENTS_FILE: ExperimentsFileSchema(
            known_purposes, _data(documents.get(SEGMENTS_FILE)), extra_features),
    }
    loaded: dict[str, Any] = {}
    for name, document in documents.items():
        try:
            loaded[name] = schemas[name].load(document.data)
        except ValidationError as error:
            found[name].extend(
                document.problem(path, message) for path, message in _flatten(error.messages)
            )

    # File order, then line order within a file, so the report reads top to bottom.
    problems = [
        problem
        for name in names
        for problem in sorted(found[name], key=lambda problem: problem.line or 0)
    ]
    if problems:
        raise RulesError(problems)
    hashes = {name: document.digest for name, document in sorted(documents.items())}
    return RuleSet(
        purposes=loaded[PURPOSES_FILE],
        jurisdictions=loaded[JURISDICTIONS_FILE],
        minimization=loaded[MINIMIZATION_FILE],
        segments=loaded[SEGMENTS_FILE],
        directory=base,
        file_hashes=MappingProxyType(hashes),
        version=_version(hashes),
        retention=loaded.get(RETENTION_FILE, RetentionRules()),
        experiments=loaded.get(EXPERIMENTS_FILE, ExperimentRules()),
    )


@dataclass(frozen=True, slots=True)
class _Document:
    """One parsed file, with the line of every key and list item in it."""

    path: str
    data: Any
    lines: Mapping[_KeyPath, int]
    digest: str

    def problem(self, path: _KeyPath, message: str) -> RuleProblem:
        return RuleProblem(self.path, _dotted(path), message, self.line_of(path))

    def line_of(self, path: _KeyPath) -> int | None:
        """The line of the deepest part of ``path`` present in the file."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def _data(document: _Document | None) -> Any:
    """The parsed contents of a file, or None if it is missing or did not parse."""
    return None if document is None else document.data


def _declared_destinations(document: _Document | None) -> frozenset[str] | None:
    """Destination names ``purposes.yaml`` defines, or None if it cannot say."""
    if document is None or not isinstance(document.data, dict):
        return None
    declared = document.data.get("destinations", {})
    if not isinstance(declared, dict):
        return None
    return frozenset(name for name in declared if isinstance(name, str))


def _read(path: str, problems: list[RuleProblem]) -> _Document | None:
    """Read and parse one file; on failure record why and return None."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        problems.append(
            RuleProblem(path, WHOLE_FILE, "file is missing; every rules file is required")
        )
        return None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        problems.append(RuleProblem(path, WHOLE_FILE, f"file cannot be read: {reason}"))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        message = f"file is not valid UTF-8 (byte offset {error.start})"
        problems.append(RuleProblem(path, WHOLE_FILE, message))
        return None

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        lines: dict[_KeyPath, int] = {}
        if node is not None:
            for key_path, message, line in _index(loader, node, (), lines, set()):
                problems.append(RuleProblem(path, _dotted(key_path), message, line))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        detail = error.problem or error.context or "invalid YAML"
        at = mark.line + 1 if mark is not None else None
        problems.append(RuleProblem(path, WHOLE_FILE, f"YAML syntax error: {detail}", at))
        return None
    except yaml.YAMLError as error:
        problems.append(RuleProblem(path, WHOLE_FILE, f"YAML error: {type(error).__name__}"))
        return None
    except RecursionError:
        problems.append(RuleProblem(path, WHOLE_FILE, "nested too deeply to be a rules file"))
        return None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        what = "empty" if data is None else "not a mapping"
        problems.append(
            RuleProblem(path, WHOLE_FILE, f"file is {what}; expected keys such as 'version: 1'", 1)
        )
        return None
    return _Document(path, data, MappingProxyType(lines), hashlib.sha256(raw).hexdigest())


def _index(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: _KeyPath,
    lines: dict[_KeyPath, int],
    seen: set[int],
) -> Iterator[tuple[_KeyPath, str, int]]:
    """Record the line of every key and item under ``node``; yield duplicate keys.

    ``yaml.safe_load`` silently keeps the last of two equal keys; that is almost
    always an editing mistake, so it is reported. Each node is visited once, so
    aliases cannot make the walk loop or explode.
    """
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = _scalar_key(loader, key_node)
            if key is None:
                continue
            line = key_node.start_mark.line + 1
            child = (*path, key)
            if key in first_line:
                yield child, f"duplicate key; the first is on line {first_line[key]}", line
            else:
                first_line[key] = line
                lines.setdefault(child, line)
            yield from _index(loader, value_node, child, lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines.setdefault(child, item.start_mark.line + 1)
            yield from _index(loader, item, child, lines, seen)


def _scalar_key(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """A mapping key as the YAML loader builds it (so ``1`` is an int), or None if complex."""
    if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:merge":
        return None
    try:
        key = loader.construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError):
        return None
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _flatten(messages: Any, path: _KeyPath = ()) -> Iterator[tuple[_KeyPath, str]]:
    """Turn marshmallow's nested errors into (key path, message) pairs, in document order."""
    if isinstance(messages, dict):
        for key, nested in messages.items():
            yield from _flatten(nested, path if key == "_schema" else (*path, key))
    elif isinstance(messages, list | tuple):
        for nested in messages:
            yield from _flatten(nested, path)
    else:
        yield path, str(messages)


def _declared_purposes(document: _Document | None) -> frozenset[str] | None:
    """The purpose names ``purposes.yaml`` declares, or None if it cannot say."""
    if document is None:
        return None
    declared = document.data.get("purposes")
    if not isinstance(declared, dict):
        return None
    return frozenset(name for name in declared if isinstance(name, str))


def _dotted(path: _KeyPath) -> str:
    return ".".join(str(part) for part in path) if path else WHOLE_FILE


def _version(hashes: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for name, file_hash in sorted(hashes.items()):
        digest.update(f"{name}\0{file_hash}\n".encode())
    return digest.hexdigest()[:16]
