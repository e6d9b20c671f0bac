"""The abstract methods of :class:`~cdp_plugin.storage.base.Store`, one module per concern."""

from __future__ import annotations

from cdp_plugin.storage.contracts.callbacks import CallbackStore
from cdp_plugin.storage.contracts.consent import ConsentLedger
from cdp_plugin.storage.contracts.deliveries import DeliveryQueue
from cdp_plugin.storage.contracts.experiments import ExperimentStore
from cdp_plugin.storage.contracts.keys import KeyStore
from cdp_plugin.storage.contracts.links import IdentityLinks
from cdp_plugin.storage.contracts.messages import MessageDedup
from cdp_plugin.storage.contracts.preferences import PreferenceStore
from cdp_plugin.storage.contracts.profiles import ProfileStore
from cdp_plugin.storage.contracts.quarantine import QuarantineStore
from cdp_plugin.storage.contracts.retention import RetentionStore
from cdp_plugin.storage.contracts.segments import SegmentStore
from cdp_plugin.storage.contracts.sends import SendLog

__all__ = [
    "CallbackStore",
    "ConsentLedger",
    "DeliveryQueue",
    "ExperimentStore",
    "IdentityLinks",
    "KeyStore",
    "MessageDedup",
    "PreferenceStore",
    "ProfileStore",
    "QuarantineStore",
    "RetentionStore",
    "SegmentStore",
    "SendLog",
]
