"""Poison input: one bad line is rejected as invalid, audited, and the run goes on.

A lone surrogate cannot be encoded as UTF-8 (SQLite, hashing and the audit
log all need it), a NUL cannot be stored in PostgreSQL text or jsonb, and
NaN or an infinite number is not JSON. Each was able to stop a whole batch
at the same place on every retry; each must now be one invalid outcome.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from cdp_plugin.pipeline import Pipeline
from cdp_plugin.types import Status
from tests.conftest import MakePipeline, audit_records, message_keys
from tests.events import ALL_GRANTED, track
from tests.storage.conftest import PostgresTarget

GOOD = json.dumps(track("m-good-1", consent=ALL_GRANTED))
TEMPLATE = ('{"type":"track","event":"Order Completed","messageId":%s,"userId":%s,'
            '"timestamp":"2026-11-20T10:00:00Z","context":{"consent":{"categoryPreferences":'
            '{"Analytics":true,"Personalization":true,"Marketing":true,"Advertising":true}}},'
            '"properties":%s}')
POISON = {
    "surrogate in messageId": TEMPLATE % ('"m-\\ud800"', '"user-1"', "{}"),
    "surrogate in userId": TEMPLATE % ('"m-p2"', '"user-\\udfff"', "{}"),
    "surrogate in a kept field": TEMPLATE % ('"m-p3"', '"user-1"', '{"currency":"\\ud83d"}'),
    "surrogate in a key": TEMPLATE % ('"m-p4"', '"user-1"', '{"\\udc00":"EUR"}'),
    "NUL in messageId": TEMPLATE % ('"m-\\u0000"', '"user-1"', "{}"),
    "NUL in a kept field": TEMPLATE % ('"m-p6"', '"user-1"', '{"currency":"EU\\u0000R"}'),
    "NaN": TEMPLATE % ('"m-p7"', '"user-1"', '{"revenue":NaN}'),
    "Infinity": TEMPLATE % ('"m-p8"', '"user-1"', '{"revenue":-Infinity}'),
    "1e999": TEMPLATE % ('"m-p9"', '"user-1"', '{"revenue":1e999}'),
}


def _run_mixed(pipeline: Pipeline) -> None:
    lines = [GOOD, *POISON.values(), json.dumps(track("m-good-2", consent=ALL_GRANTED))]
    outcomes = pipeline.process_batch(lines)
    statuses = [o.status for o in outcomes]
    assert statuses[0] is Status.FORWARDED and statuses[-1] is Status.FORWARDED
    assert statuses[1:-1] == [Status.INVALID] * len(POISON), dict(zip(POISON, statuses[1:-1],
                                                                      strict=True))
    invalid = audit_records(pipeline, "event.invalid")
    assert len(invalid) == len(POISON)
    by_id = {r["message_id"]: r["problems"] for r in invalid}
    assert None in by_id  # an id that is itself poison is not audited
    p3, p7 = message_keys(pipeline, "m-p3", "m-p7")
    assert by_id[p3] == {"properties": "holds a NUL character or a lone surrogate"}
    assert by_id[p7] == {"properties":
                             "holds NaN or an infinite number, which JSON does not allow"}
    blob = json.dumps(invalid)
    assert "\\ud" not in blob and "\\u0000" not in blob


def test_poison_lines_are_invalid_and_the_batch_goes_on_sqlite(make_pipeline: MakePipeline
                                                               ) -> None:
    _run_mixed(make_pipeline())


@pytest.fixture
def postgres_pipeline(make_pipeline: MakePipeline, postgres_target: PostgresTarget
                      ) -> Iterator[Pipeline]:
    dsn = postgres_target.dsn
    separator = "&" if "?" in dsn else "?"
    target = f"{dsn}{separator}options={quote(f'-csearch_path={postgres_target.schema}')}"
    yield make_pipeline(store=target)


@pytest.mark.postgres
def test_poison_lines_are_invalid_and_the_batch_goes_on_postgres(postgres_pipeline: Pipeline
                                                                 ) -> None:
    _run_mixed(postgres_pipeline)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "x\x00", "\ud800"])
def test_poison_in_a_mapping_from_the_python_api(make_pipeline: MakePipeline,
                                                 value: object) -> None:
    event = track("m-api", consent=ALL_GRANTED, revenue=value)
    outcome = make_pipeline().process(event)
    assert outcome.status is Status.INVALID and outcome.message_id == "m-api"


def test_valid_non_ascii_and_escapes_still_pass(make_pipeline: MakePipeline) -> None:
    properties = '{"currency":"\\u20ac","note":"caf\\u00e9 \\ud83d\\ude00"}'  # a valid pair
    line = TEMPLATE % ('"m-ok"', '"user-1"', properties)
    outcome = make_pipeline().process(line)
    assert outcome.status is Status.FORWARDED
    assert outcome.event is not None and outcome.event["properties"]["currency"] == "€"
