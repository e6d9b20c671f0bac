"""The body of an access or erasure request, in the OpenDSR request shape.

``POST /v1/subject-requests`` with ``{"subject_request_type": "access" |
"erasure", "subject_id": ..., "subject_request_id": <uuid>}``, as mParticle's
and Mixpanel's OpenDSR endpoints take it. The subject and the kind of request
are in the signed body, so a signature made for one request cannot be reused
for another subject or another kind (Standard Webhooks signs
``id.timestamp.body``, not the method or path). ``submitted_time`` and
``api_version`` are accepted and ignored; any other key is refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from cdp_plugin.callbacks.schemas import UNKNOWN, PayloadError

ACCESS = "access"
ERASURE = "erasure"


@dataclass(frozen=True, slots=True)
class SubjectRequest:
    """One access or erasure request; ``subject_id`` is the raw identifier (never logged)."""

    request_type: str
    subject_id: str = field(repr=False)
    request_id: uuid.UUID


class _SubjectRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    subject_request_type = fields.String(required=True,
                                         validate=validate.OneOf([ACCESS, ERASURE]))
    subject_id = fields.String(required=True, validate=validate.Length(min=1, max=512))
    subject_request_id = fields.UUID(required=True)
    submitted_time = fields.String()
    api_version = fields.String()

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> SubjectRequest:
        return SubjectRequest(data["subject_request_type"], data["subject_id"],
                              data["subject_request_id"])


_SCHEMA = _SubjectRequestSchema()
_KNOWN = frozenset(_SCHEMA.fields)


def load_subject_request(payload: Any) -> SubjectRequest:
    """The request a parsed JSON body names; raises :class:`PayloadError` with the
    field paths at fault (a key the client made up is reported as ``UNKNOWN``)."""
    if not isinstance(payload, dict):
        raise PayloadError({"_schema": ["the payload must be a JSON object"]})
    try:
        loaded: SubjectRequest = _SCHEMA.load(payload)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        problems: dict[str, list[str]] = {}
        for key, value in messages.items():
            name = str(key) if str(key) in _KNOWN or key == "_schema" else UNKNOWN
            items = value if isinstance(value, list) else [value]
            problems.setdefault(name, []).extend(str(item) for item in items)
        raise PayloadError(problems) from None
    return loaded
