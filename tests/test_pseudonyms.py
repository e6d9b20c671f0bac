"""Keyed pseudonyms are plain HMAC-SHA256 under derived keys, however they are computed."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdp_plugin.keys import pseudonyms
from cdp_plugin.keys.master import derive_key
from cdp_plugin.keys.pseudonyms import Pseudonymizer

MASTER = bytes(range(32))


def reference(purpose: str, text: str) -> str:
    key = derive_key(MASTER, purpose)
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec="utf-8")))  # encodable: no lone surrogates
def test_each_pseudonym_is_the_hmac_of_its_input(text: str) -> None:
    keys = Pseudonymizer(MASTER)
    assert keys.subject(text) == "s_" + reference("subject-pseudonym/v1", text)[:32]
    assert keys.subject(text) == "s_" + reference("subject-pseudonym/v1", text)[:32]  # memo
    assert keys.message(text) == "m_" + reference("message-id/v1", text)[:32]
    assert keys.field(text) == f"h1:{keys.key_id}:{reference('field-hash/v1', text)[:32]}"
    assert keys.field(text) == f"h1:{keys.key_id}:{reference('field-hash/v1', text)[:32]}"


def test_the_memos_stay_bounded_and_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pseudonyms, "_SUBJECT_MEMO_LIMIT", 8)
    keys = Pseudonymizer(MASTER)
    for _ in range(3):
        for n in range(20):
            expected = "s_" + reference("subject-pseudonym/v1", f"user-{n}")[:32]
            assert keys.subject(f"user-{n}") == expected
            assert len(keys._subjects) <= 8
            hashed = f"h1:{keys.key_id}:{reference('field-hash/v1', f'user-{n}')[:32]}"
            assert keys.field(f"user-{n}") == hashed
            assert len(keys._fields) <= 8
