"""A deterministic, realistic synthetic ingest stream for the demo and the tests.

:func:`generate_stream` imitates what an e-commerce and app CDP receives:
Segment Spec messages from a web shop, iOS and Android apps and an email
service, for subjects who each follow a persona (onboarding newcomers,
browsers, cart abandoners, repeat purchasers, high spenders, dormant,
email-engaged and seasonal shoppers), interleaved with preference-center
updates. It carries what the plugin must cope with in production: personal
data in traits, IPs and free-text comments; events with and without a consent
object; subjects with no consent at all; withdrawals; anonymous visitors who
identify later; malformed messages and replays.

Every value derives from ``random.Random(seed)``: the same arguments give the
identical stream. Every personal value is fake by construction: names from a
short list, ``example.com``/``example.org`` addresses, 555-01xx phone numbers
and documentation IP ranges (RFC 5737, RFC 3849).

Layout: :mod:`.data` holds the fixed tables, :mod:`.model` the item and
timeline records, :mod:`.subjects` makes subjects, :mod:`.campaigns` lays out
the campaign calendar, :mod:`.planning` plans each subject's timeline,
:mod:`.messages` turns it into messages and :mod:`.stream` holds the entry points.
"""

from __future__ import annotations

from cdp_plugin.synthetic.data import DEFAULT_START, NOTICE_HASH, NOTICE_TEXT, NOTICE_VERSION
from cdp_plugin.synthetic.model import StreamItem
from cdp_plugin.synthetic.stream import generate_stream, summary, write_jsonl

__all__ = ["DEFAULT_START", "NOTICE_HASH", "NOTICE_TEXT", "NOTICE_VERSION", "StreamItem",
           "generate_stream", "summary", "write_jsonl"]
