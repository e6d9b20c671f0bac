"""Master keys, per-subject data keys, field encryption, rotation and crypto-shredding."""

from __future__ import annotations

import argparse
import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.cli import keys as keys_cli
from cdp_plugin.config import Config
from cdp_plugin.errors import ConfigError
from cdp_plugin.keys.keyring import (
    DecryptionFailed,
    Keyring,
    KeyShredded,
    MasterKeyMissing,
    wrapped_by,
)
from cdp_plugin.keys.master import (
    MASTER_KEY_ENV,
    MasterKey,
    MasterKeys,
    key_id_of,
    load_master_keys,
    parse_master_keys,
)
from cdp_plugin.keys.pseudonyms import Pseudonymizer
from cdp_plugin.storage.sqlite import SQLiteStore
from tests.conftest import RULES_DIR, MakePipeline
from tests.events import ALL_GRANTED, track

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
A = MasterKey("a", KEY_A)
B = MasterKey("b", KEY_B)
ALICE, BOB = "s_alice", "s_bob"


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "keys.sqlite3")
    yield opened
    opened.close()


# -- master keys ------------------------------------------------------------------------------


def test_a_single_base64_key_gets_the_id_derived_from_it() -> None:
    keys = parse_master_keys(b64(KEY_A) + "\n", "env")
    assert keys.ids == (key_id_of(KEY_A),) and len(key_id_of(KEY_A)) == 8
    assert keys.current.secret == KEY_A and keys.pseudonym.secret == KEY_A


def test_a_list_is_newest_first_and_may_mix_named_and_bare_entries() -> None:
    keys = parse_master_keys(f"b:{b64(KEY_B)}, {b64(KEY_A)}", "env")
    assert keys.ids == ("b", key_id_of(KEY_A))
    assert keys.current.key_id == "b" and keys.pseudonym.secret == KEY_A
    assert "secret" not in repr(keys) and b64(KEY_B) not in repr(keys) + repr(keys.current)


@pytest.mark.parametrize(("text", "message"), [
    ("", "no master key given"),
    ("not base64!", "master key is not valid base64"),
    (b64(b"short"), "master key must be 32 bytes, got 5"),
    (f"bad id!:{b64(KEY_A)}", "a master key id is 1-32 letters"),
    (f"a:{b64(KEY_A)},a:{b64(KEY_B)}", "key id 'a' is listed twice"),
    (f"a:{b64(KEY_A)},b:oops!", "(entry 2): master key is not valid base64"),
])
def test_bad_master_key_text_is_a_config_error_without_key_material(text: str,
                                                                    message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_master_keys(text, "CDP_PLUGIN_MASTER_KEY")
    assert message in str(caught.value)
    assert b64(KEY_A) not in str(caught.value) and b64(KEY_B) not in str(caught.value)


def test_master_keys_come_from_the_environment_then_the_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "master.keys"
    key_file.write_text(f"b:{b64(KEY_B)}\na:{b64(KEY_A)}\n")
    config = Config(data_dir=tmp_path / "data", master_key_file=key_file)
    assert load_master_keys(config, {}).ids == ("b", "a")
    assert load_master_keys(config, {MASTER_KEY_ENV: b64(KEY_A)}).ids == (key_id_of(KEY_A),)
    dev = load_master_keys(Config(data_dir=tmp_path / "dev"), {})
    assert (tmp_path / "dev" / "master.key").exists() and len(dev.ids) == 1


def test_subject_pseudonyms_survive_rotation_and_field_hashes_do_not() -> None:
    before = Pseudonymizer(KEY_A)
    after = Pseudonymizer(MasterKeys([MasterKey(key_id_of(KEY_B), KEY_B),
                                      MasterKey(key_id_of(KEY_A), KEY_A)]))
    assert after.subject("user-1") == before.subject("user-1")
    assert after.field("x") != before.field("x")
    assert after.field("x").startswith(f"h1:{after.key_id}:") and after.key_id != before.key_id
    assert Pseudonymizer(MasterKeys.single(KEY_A)).field("x") == before.field("x")


# -- encryption -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "ada@example.com", "", "ünïcode ✓", 42, 4.25, True, None, [1, "two", {"three": 3}],
    {"nested": {"list": [1, 2]}, "n": None},
])
def test_values_round_trip_with_their_json_type(store: SQLiteStore, value: Any) -> None:
    keyring = Keyring(store, MasterKeys([A]))
    token = keyring.encrypt(ALICE, "traits.email", value)
    assert token.startswith("enc1:") and token.count(":") == 2
    if isinstance(value, str) and value:  # these hold characters base64 never uses
        assert value not in token
    decrypted = keyring.decrypt(ALICE, "traits.email", token)
    assert decrypted == value and type(decrypted) is type(value)


def test_one_data_key_per_subject_is_created_on_first_use(store: SQLiteStore) -> None:
    keyring = Keyring(store, MasterKeys([A]))
    assert store.get_keys(ALICE) == {}
    first = keyring.encrypt(ALICE, "p", "x")
    second = keyring.encrypt(ALICE, "p", "x")
    [key_id] = store.get_keys(ALICE)
    assert first.split(":")[1] == second.split(":")[1] == key_id
    assert first != second  # a fresh nonce every time
    assert wrapped_by(store.get_keys(ALICE)[key_id]) == "a"


def test_tampered_values_and_wrong_paths_or_subjects_do_not_decrypt(store: SQLiteStore) -> None:
    keyring = Keyring(store, MasterKeys([A]))
    token = keyring.encrypt(ALICE, "traits.email", "ada@example.com")
    keyring.encrypt(BOB, "traits.email", "bob@example.com")
    prefix, key_id, body = token.split(":")
    flipped = body[:5] + ("A" if body[5] != "A" else "B") + body[6:]
    with pytest.raises(DecryptionFailed) as caught:
        keyring.decrypt(ALICE, "traits.email", f"{prefix}:{key_id}:{flipped}")
    assert "traits.email" in str(caught.value) and "ada" not in str(caught.value)
    with pytest.raises(DecryptionFailed):
        keyring.decrypt(ALICE, "traits.phone", token)
    with pytest.raises(KeyShredded):  # bob has no key with alice's key id
        keyring.decrypt(BOB, "traits.email", token)
    for malformed in ("ada@example.com", "enc1:", f"enc1:{key_id}", f"enc1:{key_id}:!!",
                      f"enc1:{key_id}:{body[:20]}", f"enc1::{body}"):
        with pytest.raises(DecryptionFailed):
            keyring.decrypt(ALICE, "traits.email", malformed)


def test_a_wrapped_key_copied_to_another_subject_does_not_unwrap(store: SQLiteStore) -> None:
    keyring = Keyring(store, MasterKeys([A]))
    token = keyring.encrypt(ALICE, "p", "secret")
    key_id = token.split(":")[1]
    from datetime import UTC, datetime

    store.put_key(BOB, key_id, store.get_keys(ALICE)[key_id], datetime.now(UTC))
    with pytest.raises(DecryptionFailed, match="does not unwrap"):
        keyring.decrypt(BOB, "p", token)


# -- rotation ---------------------------------------------------------------------------------


def test_rotation_round_trip(store: SQLiteStore) -> None:
    old = Keyring(store, MasterKeys([A]))
    before = old.encrypt(ALICE, "traits.email", "ada@example.com")

    both = Keyring(store, MasterKeys([B, A]))  # B is now current, A still listed
    assert both.decrypt(ALICE, "traits.email", before) == "ada@example.com"
    assert both.rotate(ALICE) == 1
    wrapped = store.get_keys(ALICE)
    assert len(wrapped) == 2 and {wrapped_by(w) for w in wrapped.values()} == {"b"}
    after = both.encrypt(ALICE, "traits.email", "ada@new.example.com")
    assert after.split(":")[1] != before.split(":")[1]  # new writes use a new data key

    only_b = Keyring(store, MasterKeys([B]))  # A removed after rotating: everything reads
    assert only_b.decrypt(ALICE, "traits.email", before) == "ada@example.com"
    assert only_b.decrypt(ALICE, "traits.email", after) == "ada@new.example.com"


def test_removing_a_master_key_before_rotating_leaves_its_data_keys_unreadable(
        store: SQLiteStore) -> None:
    token = Keyring(store, MasterKeys([A])).encrypt(ALICE, "p", "x")
    only_b = Keyring(store, MasterKeys([B]))
    with pytest.raises(MasterKeyMissing) as caught:
        only_b.decrypt(ALICE, "p", token)
    assert "master key a" in str(caught.value) and "configured: b" in str(caught.value)
    with pytest.raises(MasterKeyMissing):
        only_b.encrypt(ALICE, "p", "y")  # no silent new key beside an unreadable one
    with pytest.raises(MasterKeyMissing):
        only_b.rotate(ALICE)
    assert {wrapped_by(w) for w in store.get_keys(ALICE).values()} == {"a"}  # unchanged


def test_rotating_every_subject(store: SQLiteStore) -> None:
    keyring = Keyring(store, MasterKeys([A]))
    tokens = {subject: keyring.encrypt(subject, "p", subject) for subject in (ALICE, BOB)}
    rotating = Keyring(store, MasterKeys([B, A]))
    assert rotating.status().data_keys == {"a": 2}
    assert rotating.rotate() == 2
    status = rotating.status()
    assert status.data_keys == {"b": 4} and status.subjects == 2 and status.current == "b"
    for subject, token in tokens.items():
        assert Keyring(store, MasterKeys([B])).decrypt(subject, "p", token) == subject


# -- erasure ----------------------------------------------------------------------------------


def test_erase_shreds_the_subject_and_spares_the_others(store: SQLiteStore) -> None:
    keyring = Keyring(store, MasterKeys([A]))
    alice = keyring.encrypt(ALICE, "p", "alice")
    bob = keyring.encrypt(BOB, "p", "bob")
    assert keyring.erase(ALICE) == 1
    with pytest.raises(KeyShredded):
        keyring.decrypt(ALICE, "p", alice)
    assert keyring.decrypt(BOB, "p", bob) == "bob"
    fresh = keyring.encrypt(ALICE, "p", "alice again")  # a new key never opens old values
    with pytest.raises(KeyShredded):
        keyring.decrypt(ALICE, "p", alice)
    assert keyring.decrypt(ALICE, "p", fresh) == "alice again"


ENCRYPT_RULES = """
  - name: sealed_order_notes
    match: {type: track, event: Order Completed}
    purposes:
      necessary:
        properties.comment: encrypt
        properties.gift: encrypt
  - name: support_contact
    match: {type: track, event: Order Completed}
    destinations: [support_desk]
    purposes:
      necessary:
        context.userAgent: encrypt
"""


def test_erasure_makes_forwarded_output_on_disk_unreadable(make_pipeline: MakePipeline,
                                                           tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    with (rules / "minimization.yaml").open("a") as handle:
        handle.write(ENCRYPT_RULES)
    pipeline = make_pipeline(rules_dir=rules)
    users = {"alice": "user-alice@example.com", "bob": "user-bob@example.com"}
    outcomes = pipeline.process_batch(
        [track(f"m-{name}-{n}", user, consent=ALL_GRANTED, comment=f"{name} note {n}",
               gift={"for": name, "wrap": n}) for name, user in users.items() for n in (1, 2)])
    forwarded = tmp_path / "forwarded.jsonl"
    with forwarded.open("w") as out:
        for outcome in outcomes:
            assert outcome.forwarded and outcome.event is not None
            out.write(json.dumps({"event": outcome.event,
                                  "support_desk": outcome.deliveries["support_desk"]}) + "\n")
    text = forwarded.read_text()
    # Spaces and quotes never occur in base64, so these cannot match by chance.
    assert " note " not in text and '"for"' not in text and '"wrap"' not in text
    assert "Mozilla" not in json.dumps([o.deliveries for o in outcomes])
    assert "properties.comment" in outcomes[0].minimization["encrypt"]
    assert "support_desk:context.userAgent" in outcomes[0].minimization["encrypt"]

    runtime = pipeline.runtime
    keyring = Keyring(runtime.store, runtime.pseudonymizer.master_keys)
    alice_key = runtime.pseudonymizer.subject(users["alice"])
    assert keyring.erase(alice_key) == 1

    lines = [json.loads(line) for line in forwarded.read_text().splitlines()]
    for line in lines:
        subject = "alice" if line["event"]["messageId"].startswith("m-alice") else "bob"
        key = runtime.pseudonymizer.subject(users[subject])
        fields = [("properties.comment", line["event"]["properties"]["comment"]),
                  ("properties.gift", line["event"]["properties"]["gift"]),
                  ("context.userAgent", line["support_desk"]["context"]["userAgent"])]
        for path, token in fields:
            if subject == "alice":
                with pytest.raises(KeyShredded):
                    keyring.decrypt(key, path, token)
            else:
                assert keyring.decrypt(key, path, token) in (
                    "bob note 1", "bob note 2", {"for": "bob", "wrap": 1},
                    {"for": "bob", "wrap": 2}, "Mozilla/5.0 (iPhone)")


# -- command line -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdp-plugin")
    keys_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser


def _options(tmp_path: Path) -> list[str]:
    return ["--rules", str(RULES_DIR), "--data-dir", str(tmp_path / "data"),
            "--audit-dir", str(tmp_path / "audits"), "--store", str(tmp_path / "cdp.sqlite3")]


def test_keys_status_prints_ids_never_key_material(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, f"b:{b64(KEY_B)},a:{b64(KEY_A)}")
    args = _parser().parse_args(["keys", "status", "--json", *_options(tmp_path)])
    assert args.handler(args) == 0
    printed = capsys.readouterr().out
    status = json.loads(printed)
    assert status["master_keys"] == ["b", "a"]
    assert (status["current"], status["pseudonyms"]) == ("b", "a")
    args = _parser().parse_args(["keys", "status", *_options(tmp_path)])
    assert args.handler(args) == 0
    text = capsys.readouterr().out
    assert "current" in text and "subject pseudonyms" in text
    for secret in (KEY_A, KEY_B):
        assert b64(secret) not in printed + text


def test_keys_rotate_one_subject_rewraps_and_is_audited(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options = _options(tmp_path)
    store = SQLiteStore(tmp_path / "cdp.sqlite3")
    subject = Pseudonymizer(KEY_A).subject("user-1")
    try:
        token = Keyring(store, MasterKeys.single(KEY_A)).encrypt(subject, "p", "value")
    finally:
        store.close()
    monkeypatch.setenv(MASTER_KEY_ENV, f"b:{b64(KEY_B)},{b64(KEY_A)}")
    args = _parser().parse_args(["keys", "rotate", "--subject", "user-1", *options])
    assert args.handler(args) == 0

    store = SQLiteStore(tmp_path / "cdp.sqlite3")
    try:
        assert {wrapped_by(w) for w in store.get_keys(subject).values()} == {"b"}
        assert Keyring(store, MasterKeys([B])).decrypt(subject, "p", token) == "value"
    finally:
        store.close()
    records = [json.loads(line) for segment in sorted((tmp_path / "audits").rglob("*.jsonl"))
               for line in segment.read_text().splitlines()]
    [rotated] = [r for r in records if r.get("kind") == "keys.rotated"]
    assert rotated["master_key"] == "b" and rotated["subjects"] == 1
    assert rotated["subject"] == subject
