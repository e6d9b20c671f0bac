"""What every hook can reach: configuration, rules, store, keys and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cdp_plugin.audit.log import AuditLog
    from cdp_plugin.config import Config
    from cdp_plugin.keys.pseudonyms import Pseudonymizer
    from cdp_plugin.rules.model import RuleSet
    from cdp_plugin.storage.base import Store


@dataclass(frozen=True)
class Runtime:
    """The resources one pipeline owns, handed to every hook.

    The pipeline opens them and closes them; plugins use but never close them.
    """

    config: Config
    rules: RuleSet
    store: Store
    pseudonymizer: Pseudonymizer
    audit_log: AuditLog
