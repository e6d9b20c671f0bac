"""The built-in rules, and which rules directory a configuration means.

The default rules ship inside the package as ``cdp_plugin/default_rules/``
(the build maps the project's top-level ``rules/`` directory there, the one
copy in the source tree). :func:`locate_rules` turns a configured
``rules_dir`` into the directory to load: an explicit directory must exist;
with none configured, ``rules/`` in the working directory is used when it
exists and the built-in rules otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from cdp_plugin.errors import ConfigError

DEFAULT_RULES_DIR = Path("rules")
"""The rules directory used when none is configured and it exists."""

BUILTIN_NOTICE = "using the built-in rules; run cdp-plugin init to customise them"
"""What the command line prints, once, when it falls back to the built-in rules."""

_PACKAGED = "default_rules"


def builtin_rules() -> Traversable:
    """The directory of the rules that ship with the package.

    An installed wheel holds them as package data; a package imported from its
    source tree (an editable install, or the checkout on ``sys.path``) has no
    ``default_rules`` directory, so they are read where the build takes them
    from: ``rules/`` beside the package, next to ``setup.cfg``. Raises
    :class:`ConfigError` if neither exists (a broken installation).
    """
    packaged = files("cdp_plugin").joinpath(_PACKAGED)
    if packaged.is_dir():
        return packaged
    project = Path(__file__).resolve().parents[2]
    source = project / DEFAULT_RULES_DIR
    if (project / "setup.cfg").is_file() and source.is_dir():
        return source
    raise ConfigError("the built-in rules are missing from this installation; "
                      "reinstall cdp-plugin or set rules_dir to a rules directory")


@dataclass(frozen=True, slots=True)
class RulesLocation:
    """The rules directory to load, and whether it is the built-in one."""

    path: Path
    builtin: bool


def locate_rules(rules_dir: str | os.PathLike[str] | None) -> RulesLocation:
    """The rules directory for a configured ``rules_dir``.

    ``None`` (nothing configured) means ``rules/`` in the working directory if
    it exists, else the built-in rules. An explicit directory is returned as
    given; it must exist, or :class:`ConfigError` says so and how to create one.
    The built-in rules must be on the file system (every installed wheel is);
    otherwise :class:`ConfigError` asks for a directory of one's own.
    """
    if rules_dir is not None:
        path = Path(rules_dir)
        if not path.is_dir():
            what = "is not a directory" if path.exists() else "does not exist"
            raise ConfigError(
                f"rules directory {os.fspath(path)!r} {what}; create one with "
                "'cdp-plugin init', or point --rules, CDP_PLUGIN_RULES_DIR or rules_dir "
                "in the configuration file at an existing one")
        return RulesLocation(path, builtin=False)
    if DEFAULT_RULES_DIR.exists():
        return RulesLocation(DEFAULT_RULES_DIR, builtin=False)
    builtin = builtin_rules()
    if not isinstance(builtin, Path):
        raise ConfigError("the built-in rules are inside an archive and cannot be loaded "
                          "from there; run 'cdp-plugin init' and use the rules it writes")
    return RulesLocation(builtin, builtin=True)
