"""C2SP signed notes and tlog checkpoints: the published vector, and malformed input."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.audit.merkle import EMPTY_ROOT
from cdp_plugin.audit.note import (
    Checkpoint,
    NoteError,
    NoteSigner,
    NoteVerifier,
    format_checkpoint,
    generate_signer_key,
    note_text,
    parse_checkpoint,
    verifier_key_for,
)
from cdp_plugin.errors import CdpPluginError

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
ROOT = bytes(range(32))


@pytest.fixture(scope="module")
def vector() -> dict[str, Any]:
    path = VECTORS / "signed_note_ed25519.json"
    if not path.is_file():
        pytest.skip(f"shared test vectors not found at {path}")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@pytest.fixture(scope="module")
def signer() -> NoteSigner:
    return NoteSigner(generate_signer_key("audit.example/test"))


def test_vector_signature_line_is_reproduced(vector: dict[str, Any]) -> None:
    signer = NoteSigner(vector["private_key"])
    assert signer.name == "PeterNeumann"
    assert signer.key_id == 0xC74F20A3
    note = signer.sign(vector["text"])
    assert note == vector["text"] + "\n" + vector["signature_line"] + "\n"


def test_vector_note_verifies_with_the_verifier_key(vector: dict[str, Any]) -> None:
    assert verifier_key_for(vector["private_key"]) == vector["verifier_key"]
    note = vector["text"] + "\n" + vector["signature_line"] + "\n"
    assert NoteVerifier(vector["verifier_key"]).verify(note) == vector["text"]


def test_vector_note_with_altered_text_fails(vector: dict[str, Any]) -> None:
    note = vector["text"].replace("answer", "ANSWER") + "\n" + vector["signature_line"] + "\n"
    with pytest.raises(NoteError, match="does not verify"):
        NoteVerifier(vector["verifier_key"]).verify(note)


def test_generated_key_texts_have_the_documented_shape(signer: NoteSigner) -> None:
    private = generate_signer_key("audit.example/test")
    prefix, key, name, key_id, key64 = private.split("+", 4)
    assert (prefix, key, name) == ("PRIVATE", "KEY", "audit.example/test")
    assert len(key_id) == 8 and int(key_id, 16) == NoteSigner(private).key_id
    assert base64.b64decode(key64)[0] == 0x01 and len(base64.b64decode(key64)) == 33
    public = verifier_key_for(private)
    assert public.startswith(f"audit.example/test+{key_id}+")
    assert NoteVerifier(public).key_id == int(key_id, 16)


def test_sign_and_verify_round_trip(signer: NoteSigner) -> None:
    note = signer.sign("hello\nworld\n")
    assert NoteVerifier(signer.verifier_key).verify(note) == "hello\nworld\n"
    assert note_text(note) == "hello\nworld\n"


def test_signatures_by_other_keys_are_ignored(signer: NoteSigner) -> None:
    other = NoteSigner(generate_signer_key("witness"))
    note = signer.sign("text\n")
    cosigned = note + other.sign("text\n").split("\n\n")[1]
    assert NoteVerifier(signer.verifier_key).verify(cosigned) == "text\n"
    assert NoteVerifier(other.verifier_key).verify(cosigned) == "text\n"


def test_a_different_key_with_the_same_name_is_unknown(signer: NoteSigner) -> None:
    impostor = NoteSigner(generate_signer_key(signer.name))
    with pytest.raises(NoteError, match="no signature by key"):
        NoteVerifier(signer.verifier_key).verify(impostor.sign("text\n"))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n.replace("\n\n", "\n"),  # no blank line
        lambda n: n[:-1],  # no final newline
        lambda n: n.replace("— ", "- "),  # wrong signature prefix
        lambda n: n[: n.rindex(" ") + 1] + "!!!!\n",  # bad base64
        lambda n: n[: n.rindex(" ") + 1] + "AAAA\n",  # too short for a key id and signature
        lambda n: "te\x07xt" + n[4:],  # control character
        lambda n: n + "\n",  # empty signature line
    ],
)
def test_malformed_notes_raise(signer: NoteSigner, mangle: Any) -> None:
    with pytest.raises(NoteError):
        NoteVerifier(signer.verifier_key).verify(mangle(signer.sign("text\n")))


@pytest.mark.parametrize("text", ["no newline", "tab\there\n", "cr\r\n", ""])
def test_sign_rejects_text_that_is_not_note_text(signer: NoteSigner, text: str) -> None:
    with pytest.raises(NoteError):
        signer.sign(text)


@pytest.mark.parametrize("name", ["", "two words", "a+b", "tab\tname"])
def test_key_names_are_validated(name: str) -> None:
    with pytest.raises(NoteError, match="key name"):
        generate_signer_key(name)


def test_malformed_keys_raise(vector: dict[str, Any]) -> None:
    private, public = vector["private_key"], vector["verifier_key"]
    bad_id = public.replace("c74f20a3", "c74f20a4")
    cases = [
        (NoteSigner, private.replace("PRIVATE+KEY+", "SECRET+KEY+")),
        (NoteSigner, private.replace("c74f20a3", "c74f20a4")),
        (NoteSigner, private.replace("c74f20a3", "c74f20")),
        (NoteSigner, "PRIVATE+KEY+name"),
        (NoteVerifier, bad_id),
        (NoteVerifier, public.replace("+ARpc", "+AhPc")),
        (NoteVerifier, "PeterNeumann+c74f20a3"),
        (NoteVerifier, "PeterNeumann+c74f20a3+" + base64.b64encode(b"\x01" + b"x" * 31).decode()),
    ]
    for kind, text in cases:
        with pytest.raises(NoteError):
            kind(text)


def test_note_error_is_a_value_error_and_a_package_error() -> None:
    assert issubclass(NoteError, ValueError) and issubclass(NoteError, CdpPluginError)


def test_checkpoint_text_round_trips() -> None:
    text = format_checkpoint("cdp-plugin/w0", 1234, ROOT)
    assert text == "cdp-plugin/w0\n1234\n" + base64.b64encode(ROOT).decode() + "\n"
    assert parse_checkpoint(text) == Checkpoint("cdp-plugin/w0", 1234, ROOT)
    assert parse_checkpoint(format_checkpoint("o", 0, EMPTY_ROOT)).size == 0


def test_checkpoint_extension_lines_are_allowed() -> None:
    text = format_checkpoint("origin", 7, ROOT) + "extension line\n"
    assert parse_checkpoint(text) == Checkpoint("origin", 7, ROOT)


def test_signed_checkpoint_round_trips_with_the_vector_key(vector: dict[str, Any]) -> None:
    note = NoteSigner(vector["private_key"]).sign(format_checkpoint("cdp-plugin/w0", 9, ROOT))
    text = NoteVerifier(vector["verifier_key"]).verify(note)
    assert parse_checkpoint(text) == Checkpoint("cdp-plugin/w0", 9, ROOT)


ROOT64 = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"origin\n12\n{ROOT64}",  # no final newline
        "origin\n12\n",  # no root
        f"\n12\n{ROOT64}\n",  # empty origin
        f"origin\n012\n{ROOT64}\n",  # leading zero
        f"origin\n-1\n{ROOT64}\n",
        f"origin\n+1\n{ROOT64}\n",
        f"origin\n١٢\n{ROOT64}\n",  # non-ASCII digits
        f"origin\n 12\n{ROOT64}\n",
        "origin\n12\nnot base64!\n",
        f"origin\n12\n{base64.b64encode(ROOT[:31]).decode()}\n",
        f"origin\n12\n{ROOT64}\n\n",  # empty extension line
    ],
)
def test_malformed_checkpoints_raise(text: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(text)


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [("two\nlines", 1, ROOT), ("", 1, ROOT), ("o", -1, ROOT), ("o", 1, ROOT[:16])],
)
def test_format_checkpoint_rejects_bad_fields(origin: str, size: int, root: bytes) -> None:
    with pytest.raises(NoteError):
        format_checkpoint(origin, size, root)
