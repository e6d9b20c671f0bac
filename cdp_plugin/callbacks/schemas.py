"""Payloads of ``POST /v1/preferences``: one update, or ``{"updates": [...]}``.

An update::

    {
      "subject_id": "u-42",
      "captured_at": "2026-11-28T10:00:00Z",
      "source": "preference_center",
      "purposes": {"marketing": "granted", "advertising": "denied"},
      "channels": {"email": "granted", "sms": "denied"},
      "topics": {"newsletter": "subscribed", "surveys": "unsubscribed"},
      "frequency_caps": {"email": {"max": 2, "per_days": 7}},
      "notice_version": "2026-09",
      "proof": {"form_id": "prefs-v3", "text_hash": "sha256:<64 hex digits>"},
      "residency": "DE"
    }

``subject_id`` and ``captured_at`` (with a time zone, not in the future) are
required, and an update must say something. Names of purposes, channels and
topics come from ``rules/purposes.yaml``. Unknown fields are rejected. Errors
name field paths and never repeat the values sent: a name the schema does not
know appears in a path as ``<unknown>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from cdp_plugin.errors import CdpPluginError
from cdp_plugin.rules.model import PurposeRules
from cdp_plugin.types import ConsentUpdate

GRANT = {"granted": True, "denied": False}
SUBSCRIPTION = {"subscribed": True, "unsubscribed": False}
FUTURE_TOLERANCE = timedelta(minutes=5)
UNKNOWN = "<unknown>"
_NAME_KEYS = frozenset({"_schema", "key", "value"})


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most ``max`` messages per ``per_days`` days, as the subject asked."""

    max: int
    per_days: int


@dataclass(frozen=True, slots=True)
class PreferenceUpdate:
    """One validated update: the consent part for the ledger, and the
    frequency caps the subject chose (kept in the subject's preferences)."""

    consent: ConsentUpdate = field(repr=False)
    frequency_caps: Mapping[str, FrequencyCap] = field(default_factory=dict)


class PayloadError(CdpPluginError):
    """The payload is not valid; ``fields`` maps field paths to problems."""

    def __init__(self, problems: Mapping[str, list[str]]) -> None:
        self.fields = dict(problems)
        super().__init__("invalid payload: " + ", ".join(sorted(self.fields)))


class _CapSchema(Schema):
    class Meta:
        unknown = RAISE

    max = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=1000))
    per_days = fields.Integer(required=True, strict=True,
                              validate=validate.Range(min=1, max=366))


class _ProofSchema(Schema):
    class Meta:
        unknown = RAISE

    form_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    text_hash = fields.String(required=True, validate=validate.Regexp(r"^sha256:[0-9a-f]{64}$"))


def _choice_map(names: tuple[str, ...] | frozenset[str], states: Mapping[str, bool]) -> fields.Dict:
    return fields.Dict(keys=fields.String(validate=validate.OneOf(sorted(names))),
                       values=fields.String(validate=validate.OneOf(list(states))),
                       load_default=dict)


def _update_schema(rules: PurposeRules, clock: Callable[[], datetime]) -> type[Schema]:
    class UpdateSchema(Schema):
        class Meta:
            unknown = RAISE

        subject_id = fields.String(required=True, validate=validate.Length(min=1, max=256))
        captured_at = fields.AwareDateTime(required=True, format="iso")
        source = fields.String(load_default="preference_center",
                               validate=validate.Regexp(r"^[a-z][a-z0-9_.-]{0,63}$"))
        purposes = _choice_map(frozenset(rules.purposes), GRANT)
        channels = _choice_map(rules.channels, GRANT)
        topics = _choice_map(rules.topics, SUBSCRIPTION)
        frequency_caps = fields.Dict(keys=fields.String(validate=validate.OneOf(rules.channels)),
                                     values=fields.Nested(_CapSchema), load_default=dict)
        notice_version = fields.String(validate=validate.Length(min=1, max=64))
        proof = fields.Nested(_ProofSchema)
        residency = fields.String(validate=validate.Regexp(r"^[A-Za-z]{2}(-[A-Za-z0-9]{1,3})?$"))

        @validates_schema
        def _says_something(self, data: dict[str, Any], **_: Any) -> None:
            if not any(data.get(name) for name in ("purposes", "channels", "topics",
                                                   "frequency_caps", "residency")):
                raise ValidationError("an update must set a purpose, channel, topic, "
                                      "frequency cap or residency")

        @validates_schema
        def _not_in_future(self, data: dict[str, Any], **_: Any) -> None:
            captured = data.get("captured_at")
            if captured is not None and captured > clock() + FUTURE_TOLERANCE:
                raise ValidationError("must not be in the future", "captured_at")

        @post_load
        def _build(self, data: dict[str, Any], **_: Any) -> PreferenceUpdate:
            proof = data.get("proof") or {}
            consent = ConsentUpdate(
                subject_id=data["subject_id"], captured_at=data["captured_at"],
                source=data["source"],
                purposes={k: GRANT[v] for k, v in data["purposes"].items()},
                channels={k: GRANT[v] for k, v in data["channels"].items()},
                topics={k: SUBSCRIPTION[v] for k, v in data["topics"].items()},
                notice_version=data.get("notice_version"), proof=dict(proof),
                residency=data.get("residency"),
            )
            caps = {k: FrequencyCap(v["max"], v["per_days"])
                    for k, v in data["frequency_caps"].items()}
            return PreferenceUpdate(consent, caps)

    return UpdateSchema


class PayloadLoader:
    """Validates payloads against the rules' purposes, channels and topics.

    Build one per rule set; :meth:`load` is safe to call from several threads.
    """

    def __init__(self, purposes: PurposeRules, max_batch: int,
                 clock: Callable[[], datetime]) -> None:
        update = _update_schema(purposes, clock)

        class BatchSchema(Schema):
            class Meta:
                unknown = RAISE

            updates = fields.List(fields.Nested(update), required=True,
                                  validate=validate.Length(min=1, max=max_batch))

        self._single = update()
        self._batch = BatchSchema()
        self._known = (frozenset(update._declared_fields) | {"updates"}
                       | frozenset(_CapSchema._declared_fields)
                       | frozenset(_ProofSchema._declared_fields)
                       | frozenset(purposes.purposes) | frozenset(purposes.channels)
                       | frozenset(purposes.topics) | _NAME_KEYS)

    def load(self, payload: Any) -> list[PreferenceUpdate]:
        """The updates of a parsed JSON payload, in order.

        Raises :class:`PayloadError` with every problem found.
        """
        try:
            if isinstance(payload, dict) and "updates" in payload:
                loaded: list[PreferenceUpdate] = self._batch.load(payload)["updates"]
                return loaded
            if not isinstance(payload, dict):
                raise ValidationError("the payload must be a JSON object")
            single: PreferenceUpdate = self._single.load(payload)
            return [single]
        except ValidationError as exc:
            raise PayloadError(self._paths(exc.messages)) from None

    def _paths(self, messages: Any, prefix: str = "") -> dict[str, list[str]]:
        if not isinstance(messages, dict):
            items = messages if isinstance(messages, list) else [messages]
            return {prefix or "_schema": [str(m) for m in items]}
        paths: dict[str, list[str]] = {}
        for key, value in messages.items():
            name = str(key)
            if not (isinstance(key, int) or name in self._known):
                name = UNKNOWN  # a name sent by the client may itself be personal data
            for path, problems in self._paths(value, f"{prefix}.{name}" if prefix else
                                              name).items():
                paths.setdefault(path, []).extend(problems)
        return paths
