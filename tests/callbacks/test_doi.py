"""Double opt-in: an email grant counts only after its signed, expiring token is confirmed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cdp_plugin.callbacks.doi import InvalidToken, OptInTokens
from cdp_plugin.callbacks.settings import DoubleOptInSettings
from cdp_plugin.keys.master import MasterKeys
from tests.callbacks.conftest import T0, USER, Client, MakeClient, encode, update
from tests.conftest import audit_records

EU_ONLY = DoubleOptInSettings(channels=frozenset({"email"}), jurisdictions=frozenset({"EU"}))
GRANT_ALL = {"marketing": "granted"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def doi_client(make_client: MakeClient, clock: Clock) -> Client:
    client = make_client(double_opt_in=EU_ONLY)
    client.app.clock = clock
    return client


def _grant_email(client: Client, residency: str = "DE", **extra: Any) -> dict[str, Any]:
    response = client.post(update(purposes=GRANT_ALL, channels={"email": "granted"},
                                  residency=residency, **extra))
    assert response.status == 200
    result: dict[str, Any] = response.json["results"][0]
    return result


def _confirm(client: Client, token: str, form: bool = False) -> tuple[int, Any]:
    if form:
        response = client.request("POST", "/v1/double-opt-in/confirm",
                                  f"token={token}".encode(), sign=False,
                                  content_type="application/x-www-form-urlencoded")
    else:
        response = client.request("POST", "/v1/double-opt-in/confirm",
                                  encode({"token": token}), sign=False)
    return response.status, response.json


def _may_email(client: Client) -> bool:
    at = datetime(2026, 11, 24, 12, tzinfo=UTC)  # a Tuesday noon: no quiet hours
    return client.pipeline.may_contact(USER, "email", at=at, record=False).allowed


def test_an_email_grant_waits_for_confirmation_where_required(doi_client: Client) -> None:
    result = _grant_email(doi_client)

    [issued] = result["confirmations"]
    assert issued["channel"] == "email"
    assert ("channel", "email") not in doi_client.grants()
    assert doi_client.grants()[("purpose", "marketing")] is True
    assert not _may_email(doi_client)

    status, body = _confirm(doi_client, issued["token"], form=True)

    assert (status, body) == (200, {"status": "confirmed"})
    assert doi_client.grants()[("channel", "email")] is True
    assert _may_email(doi_client)
    [confirmed] = audit_records(doi_client.pipeline, "optin.confirmed")
    assert confirmed["channel"] == "email"
    # Single use: a second click changes nothing and says so.
    assert _confirm(doi_client, issued["token"]) == (200, {"status": "already_confirmed"})
    key = doi_client.pipeline.runtime.pseudonymizer.subject(USER)
    sources = [r.source for r in doi_client.pipeline.runtime.store.consent_history(key)]
    assert sources == ["preference_center", "double_opt_in"]


def test_no_confirmation_where_the_regime_does_not_require_it(doi_client: Client) -> None:
    result = _grant_email(doi_client, residency="US-CA")
    assert result["confirmations"] == []
    assert doi_client.grants()[("channel", "email")] is True


def test_an_unknown_residency_gets_the_strictest_regime(doi_client: Client) -> None:
    response = doi_client.post(update(purposes=GRANT_ALL, channels={"email": "granted"}))
    assert len(response.json["results"][0]["confirmations"]) == 1


def test_an_expired_token_does_not_confirm(doi_client: Client, clock: Clock) -> None:
    [issued] = _grant_email(doi_client)["confirmations"]
    clock.now += timedelta(hours=48, seconds=1)

    assert _confirm(doi_client, issued["token"]) == (410, {"status": "expired"})
    assert ("channel", "email") not in doi_client.grants()


def test_a_tampered_or_foreign_token_is_refused(doi_client: Client) -> None:
    [issued] = _grant_email(doi_client)["confirmations"]
    version, body, mac = issued["token"].split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    foreign = OptInTokens(MasterKeys.single(b"\x01" * 32)).issue("00" * 16,
                                                                 T0 + timedelta(days=1))

    for token in (f"{version}.{flipped}.{mac}", foreign, "v1.x", "not a token"):
        assert _confirm(doi_client, token) == (400, {"error": "invalid_token"})
    assert ("channel", "email") not in doi_client.grants()


def test_a_later_denial_cancels_the_pending_request(doi_client: Client) -> None:
    [issued] = _grant_email(doi_client)["confirmations"]
    doi_client.post(update(T0 + timedelta(minutes=5), channels={"email": "denied"}))

    assert _confirm(doi_client, issued["token"]) == (410, {"status": "cancelled"})
    assert doi_client.grants()[("channel", "email")] is False


def test_the_confirmation_page_does_not_confirm(doi_client: Client) -> None:
    [issued] = _grant_email(doi_client)["confirmations"]
    page = doi_client.request("GET", f"/v1/double-opt-in/confirm?token={issued['token']}",
                              sign=False)
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert b'method="post"' in page.body and issued["token"].encode() in page.body
    assert ("channel", "email") not in doi_client.grants()


def test_a_channel_already_confirmed_is_granted_again_without_a_new_request(
        doi_client: Client) -> None:
    [issued] = _grant_email(doi_client)["confirmations"]
    _confirm(doi_client, issued["token"])
    again = doi_client.post(update(T0 + timedelta(days=1), channels={"email": "granted"},
                                   residency="DE"))
    assert again.json["results"][0]["confirmations"] == []


def test_a_stale_grant_asks_for_no_confirmation(doi_client: Client) -> None:
    doi_client.post(update(T0, channels={"email": "denied"}, residency="DE"))
    stale = doi_client.post(update(T0 - timedelta(hours=1), channels={"email": "granted"}))
    assert stale.json["results"][0]["confirmations"] == []
    assert doi_client.grants()[("channel", "email")] is False
    key = doi_client.pipeline.runtime.pseudonymizer.subject(USER)
    history = doi_client.pipeline.runtime.store.consent_history(key)
    assert [dict(r.channels) for r in history] == [{"email": False}, {"email": True}]


def test_tokens_verify_under_any_listed_master_key() -> None:
    old = MasterKeys.single(b"\x02" * 32)
    token = OptInTokens(old).issue("ab" * 16, T0)
    rotated = MasterKeys([*MasterKeys.single(b"\x03" * 32), *old])
    assert OptInTokens(rotated).read(token) == ("ab" * 16, T0)
    with pytest.raises(InvalidToken):
        OptInTokens(MasterKeys.single(b"\x03" * 32)).read(token)


def test_the_confirm_url_carries_the_token(make_client: MakeClient) -> None:
    client = make_client(double_opt_in=DoubleOptInSettings(
        always=True, confirm_url="https://prefs.test/confirm?t={token}"))
    [issued] = _grant_email(client, residency="US-CA")["confirmations"]
    assert issued["confirm_url"] == f"https://prefs.test/confirm?t={issued['token']}"


def test_only_the_canonical_spelling_of_a_token_confirms(doi_client: Client) -> None:
    [issued] = _grant_email(doi_client)["confirmations"]
    version, body, mac = issued["token"].split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # A 32-byte MAC is 43 characters: the last one carries 2 unused bits, so three
    # other characters decode to the same bytes; a stray character is skipped.
    last = alphabet.index(mac[-1])
    variants = [mac[:-1] + alphabet[(last & ~3) | low] for low in range(4)]
    respelled = [m for m in variants if m != mac]
    assert len(respelled) == 3
    for token in (*(f"{version}.{body}.{m}" for m in respelled), f"{version}.{body}.{mac}!",
                  f"{version}.{body}!.{mac}"):
        assert _confirm(doi_client, token) == (400, {"error": "invalid_token"})
    assert ("channel", "email") not in doi_client.grants()
    assert _confirm(doi_client, issued["token"])[0] == 200
