"""Small builders of Segment Spec messages for tests."""

from __future__ import annotations

from typing import Any

ALL_GRANTED = {"Analytics": True, "Personalization": True, "Marketing": True,
               "Advertising": True}
ALL_DENIED = {k: False for k in ALL_GRANTED}


def track(message_id: str, user_id: str = "user-alice@example.com", event: str = "Order Completed",
          *, consent: dict[str, bool] | None = None, timestamp: str = "2026-11-20T10:00:00Z",
          **properties: Any) -> dict[str, Any]:
    """A track call; ``consent`` becomes Segment's categoryPreferences."""
    context: dict[str, Any] = {"ip": "203.0.113.77", "userAgent": "Mozilla/5.0 (iPhone)",
                               "locale": "de-DE", "device": {"type": "ios"}}
    if consent is not None:
        context["consent"] = {"categoryPreferences": consent}
    return {"type": "track", "event": event, "messageId": message_id, "userId": user_id,
            "timestamp": timestamp, "context": context,
            "properties": properties or {"revenue": 42.5, "currency": "EUR",
                                         "comment": "call me on +49 151 2345678"}}
