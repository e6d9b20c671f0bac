"""Per-event cost of boundary validation: compiled checks against a marshmallow schema.

Usage: ``python benchmarks/validation.py [--events N] [--repeat R]``

Generates N realistic, valid Segment Spec messages (seeded, so every run sees
the same lines), then times on those same JSON lines:

(a) the floor, ``json.loads`` + ``json.dumps``;
(b) ``decode_line`` + ``parse_event`` with an HMAC-SHA256 pseudonym (builds the Event);
(c) ``json.loads`` + ``Schema.load`` of a marshmallow schema holding the same rules;

and, for reference, ``json.loads`` alone (what (b) and (c) pay before validating).

Each figure is the median over R repeats of total time / N. Before timing, both
validators must accept every generated line and reject the same broken samples,
so neither side is timed doing less than the other promises.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import hmac
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from importlib.metadata import version
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from cdp_plugin.errors import InvalidEvent
from cdp_plugin.events import decode_line, parse_event

_TYPES = ("track", "identify", "page", "screen", "group", "alias")
_TIME_KEYS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
_KEY = b"benchmark-pseudonym-key-0123456789"


def pseudonymize(subject_id: str) -> str:
    return hmac.new(_KEY, subject_id.encode(), hashlib.sha256).hexdigest()


# --- the same rules as a marshmallow schema -------------------------------------------


def _id(*, required: bool = False, max_len: int = 512) -> fields.String:
    return fields.String(
        required=required, allow_none=not required, validate=validate.Length(1, max_len)
    )


def _time() -> fields.AwareDateTime:
    return fields.AwareDateTime(format="iso", allow_none=True)


class ContextSchema(Schema):
    class Meta:
        unknown = INCLUDE

    traits = fields.Dict(allow_none=True)
    ip = fields.String(allow_none=True)


class MessageSchema(Schema):
    """Common Segment Spec fields; a subclass per type adds that type's fields."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True, validate=validate.OneOf(_TYPES))
    messageId = _id(required=True)
    userId = _id()
    anonymousId = _id()
    timestamp = _time()
    originalTimestamp = _time()
    sentAt = _time()
    receivedAt = _time()
    context = fields.Nested(ContextSchema, allow_none=True)
    properties = fields.Dict(allow_none=True)
    traits = fields.Dict(allow_none=True)
    integrations = fields.Dict(allow_none=True)

    @validates_schema
    def _one_subject_and_a_time(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        if data.get("userId") is None and data.get("anonymousId") is None:
            errors["userId|anonymousId"] = ["required"]
        if all(data.get(key) is None for key in _TIME_KEYS):
            errors["timestamp"] = ["required"]
        if errors:
            raise ValidationError(errors)


class TrackSchema(MessageSchema):
    event = _id(required=True, max_len=200)


class PageSchema(MessageSchema):
    name = fields.String(allow_none=True)


class GroupSchema(MessageSchema):
    groupId = _id(required=True)


class AliasSchema(MessageSchema):
    previousId = _id(required=True)
    userId = _id(required=True)


_SCHEMAS: dict[str, Schema] = {
    "track": TrackSchema(),
    "identify": MessageSchema(),
    "page": PageSchema(),
    "screen": PageSchema(),
    "group": GroupSchema(),
    "alias": AliasSchema(),
}
_BASE_SCHEMA = MessageSchema()


def marshmallow_load(raw: Mapping[str, Any]) -> Any:
    """Validate with the schema for the message's type (the base schema reports a bad type)."""
    event_type = raw.get("type")
    schema = _SCHEMAS.get(event_type, _BASE_SCHEMA) if isinstance(event_type, str) else _BASE_SCHEMA
    return schema.load(raw)


# --- realistic messages -----------------------------------------------------------------

_EVENTS = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed", "Signed In")
_PAGES = ("Home", "Search Results", "Product Detail", "Cart", "Checkout")
_LIBRARIES = (
    ("analytics.js", "4.1.0"),
    ("analytics-ios", "4.1.8"),
    ("analytics-android", "4.11.3"),
)
_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.4 Safari",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
)
_START = datetime(2024, 5, 1, tzinfo=UTC)


def _hex(rng: random.Random, bits: int) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def _iso(rng: random.Random, at: datetime) -> str:
    if rng.random() < 0.8:
        return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    zone = timezone(timedelta(minutes=rng.choice((-300, -240, 60, 120, 330, 540))))
    return at.astimezone(zone).isoformat(timespec="milliseconds")


def make_message(rng: random.Random) -> dict[str, Any]:
    """One valid message; the type mix roughly follows a web shop's traffic."""
    event_type = rng.choices(_TYPES, weights=(60, 10, 15, 5, 5, 5))[0]
    at = _START + timedelta(milliseconds=rng.randrange(86_400_000 * 30))
    user = f"user-{rng.randrange(1_000_000):06d}" if rng.random() < 0.6 else None
    library, library_version = rng.choice(_LIBRARIES)
    context: dict[str, Any] = {
        "ip": f"203.0.{rng.randrange(256)}.{rng.randrange(256)}",
        "library": {"name": library, "version": library_version},
        "locale": rng.choice(("en-US", "en-GB", "de-DE", "fr-FR")),
        "userAgent": rng.choice(_AGENTS),
        "page": {"path": f"/p/{rng.randrange(5000)}", "referrer": "https://www.example.org/"},
    }
    if user is not None and rng.random() < 0.3:
        context["traits"] = {"email": f"{user}@example.com", "plan": rng.choice(("free", "pro"))}
    raw: dict[str, Any] = {
        "type": event_type,
        "messageId": f"ajs-next-{_hex(rng, 64)}-{_hex(rng, 32)}",
        "userId": user,
        "anonymousId": f"{_hex(rng, 32)}-{_hex(rng, 16)}-{_hex(rng, 48)}",
        "timestamp": _iso(rng, at),
        "sentAt": _iso(rng, at + timedelta(milliseconds=rng.randrange(500))),
        "receivedAt": (at + timedelta(seconds=1)).isoformat().replace("+00:00", "Z"),
        "context": context,
        "integrations": {"All": True, "Mixpanel": rng.random() < 0.5},
        "channel": "client",
        "version": 2,
    }
    if event_type == "track":
        raw["event"] = rng.choice(_EVENTS)
        raw["properties"] = {
            "product_id": f"sku-{rng.randrange(10_000)}",
            "price": round(rng.uniform(2, 300), 2),
            "currency": "EUR",
            "quantity": rng.randrange(1, 4),
            "products": [
                {"sku": f"sku-{rng.randrange(10_000)}", "price": round(rng.uniform(2, 90), 2)}
                for _ in range(rng.randrange(0, 4))
            ],
        }
    elif event_type in ("page", "screen"):
        raw["name"] = rng.choice(_PAGES)
        raw["properties"] = {"title": raw["name"], "path": context["page"]["path"]}
    elif event_type == "identify":
        raw["traits"] = {"plan": rng.choice(("free", "pro")), "logins": rng.randrange(1, 500)}
    elif event_type == "group":
        raw["groupId"] = f"org-{rng.randrange(10_000):05d}"
        raw["traits"] = {
            "name": f"Company {rng.randrange(10_000)}",
            "employees": rng.randrange(900),
        }
    else:  # alias: the previous anonymous id becomes the known user
        raw["previousId"] = raw["anonymousId"]
        raw["userId"] = user or f"user-{rng.randrange(1_000_000):06d}"
    return raw


def make_lines(count: int, seed: int = 20240501) -> list[str]:
    rng = random.Random(seed)
    return [json.dumps(make_message(rng), separators=(",", ":")) for _ in range(count)]


# --- agreement and timing -----------------------------------------------------------------

_BROKEN: tuple[Callable[[dict[str, Any]], None], ...] = (
    lambda raw: raw.pop("messageId"),
    lambda raw: raw.update(type="purchase"),
    lambda raw: raw.update(userId=None, anonymousId=None),
    lambda raw: raw.update(userId=12345),
    lambda raw: raw.update(timestamp="2024-05-01T12:00:00"),
    lambda raw: raw.update(context="not an object"),
    lambda raw: raw.update(properties=[1, 2]),
    lambda raw: raw.update(type="track", event=""),
    lambda raw: raw.update(type="group", groupId=None),
)


def check_agreement(lines: list[str]) -> None:
    """Both validators accept every line and reject every broken sample; else exit."""
    for line in lines:
        parse_event(decode_line(line), pseudonymize)
        marshmallow_load(json.loads(line))
    sample = json.loads(lines[0])
    for number, breaks in enumerate(_BROKEN):
        raw = dict(sample)
        breaks(raw)
        rejected = 0
        try:
            parse_event(raw, pseudonymize)
        except InvalidEvent:
            rejected += 1
        try:
            marshmallow_load(raw)
        except ValidationError:
            rejected += 1
        if rejected != 2:
            sys.exit(f"broken sample {number}: only {rejected} of 2 validators rejected it")


def _floor(lines: list[str]) -> None:
    loads, dumps = json.loads, json.dumps
    for line in lines:
        dumps(loads(line))


def _loads_only(lines: list[str]) -> None:
    loads = json.loads
    for line in lines:
        loads(line)


def _compiled(lines: list[str]) -> None:
    for line in lines:
        parse_event(decode_line(line), pseudonymize)


def _marshmallow(lines: list[str]) -> None:
    loads = json.loads
    for line in lines:
        marshmallow_load(loads(line))


def per_event_us(run: Callable[[list[str]], None], lines: list[str]) -> float:
    gc.collect()
    start = time.perf_counter_ns()
    run(lines)
    return (time.perf_counter_ns() - start) / len(lines) / 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000, help="messages (default 20000)")
    parser.add_argument("--repeat", type=int, default=7, help="repeats (default 7)")
    args = parser.parse_args(argv)
    if args.events < 1 or args.repeat < 1:
        parser.error("--events and --repeat must be at least 1")

    lines = make_lines(args.events)
    check_agreement(lines)
    runs: dict[str, Callable[[list[str]], None]] = {
        "(a) json.loads + json.dumps": _floor,
        "(b) decode_line + parse_event": _compiled,
        "(c) json.loads + marshmallow load": _marshmallow,
        "(ref) json.loads alone": _loads_only,
    }
    for run in runs.values():  # warm caches before the first timed pass
        run(lines[: min(len(lines), 2000)])
    samples: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(args.repeat):  # interleaved, so drift in the machine hits all three alike
        for label, run in runs.items():
            samples[label].append(per_event_us(run, lines))

    medians = {label: statistics.median(values) for label, values in samples.items()}
    floor = medians["(a) json.loads + json.dumps"]
    print(
        f"{args.events} events, median of {args.repeat} repeats; Python "
        f"{platform.python_version()}, marshmallow {version('marshmallow')}"
    )
    print(f"{'variant':<36} {'us/event':>9} {'min':>7} {'max':>7} {'vs (a)':>7}")
    for label, values in samples.items():
        print(
            f"{label:<36} {medians[label]:>9.2f} {min(values):>7.2f} {max(values):>7.2f}"
            f" {medians[label] / floor:>6.2f}x"
        )
    compiled = medians["(b) decode_line + parse_event"]
    schema = medians["(c) json.loads + marshmallow load"]
    print(
        f"(b)/(a) = {compiled / floor:.2f}   (c)/(a) = {schema / floor:.2f}   "
        f"(c)/(b) = {schema / compiled:.2f}"
    )
    print("(b) also builds the Event and computes the HMAC pseudonym; (c) only validates.")


if __name__ == "__main__":
    main()
