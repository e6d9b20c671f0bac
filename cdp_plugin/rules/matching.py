"""Name globs and dotted field paths: the two matching notations used in the rules files.

Both are parsed once, when the rules load, so per-event matching is a string
comparison or one precompiled regular expression.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable

WILDCARD = "*"
"""A field-path segment that matches any list index or map key."""

_GLOB_CHARACTERS = frozenset("*?[")


def compile_glob(pattern: str) -> Callable[[str], bool]:
    """Return a predicate telling whether a name matches ``pattern``.

    The syntax is :mod:`fnmatch`'s (``*``, ``?``, ``[...]``), matched against the
    whole name and case-sensitively on every platform, because event names such as
    ``Order Completed`` are case-sensitive in the Segment Spec. A pattern without
    wildcards is a plain equality test.
    """
    if _GLOB_CHARACTERS.isdisjoint(pattern):
        return lambda name: name == pattern
    regex = re.compile(fnmatch.translate(pattern))
    return lambda name: regex.match(name) is not None


def parse_field_path(path: str) -> tuple[str, ...]:
    """Split a dotted field path such as ``properties.products.*.price`` into segments.

    Raises :class:`ValueError` naming what is wrong (never echoing a payload value)
    if a segment is empty or ``*`` is mixed with other characters in one segment.
    A key that itself contains a dot cannot be addressed.
    """
    if not path:
        raise ValueError("field path must not be empty")
    segments = tuple(path.split("."))
    for segment in segments:
        if not segment:
            raise ValueError("field path has an empty segment; check for '..' or an outer dot")
        if WILDCARD in segment and segment != WILDCARD:
            raise ValueError("'*' must be a whole segment, e.g. properties.products.*.price")
    return segments
