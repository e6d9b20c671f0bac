"""Callback settings: plugins.callbacks in the configuration, secrets from the environment."""

from __future__ import annotations

from typing import Any

import pytest

from cdp_plugin.callbacks.auth import new_secret
from cdp_plugin.callbacks.settings import SECRETS_ENV, load_settings
from cdp_plugin.config import Config
from cdp_plugin.errors import ConfigError
from cdp_plugin.rules.loader import load_rules
from tests.conftest import RULES_DIR

RULES = load_rules(RULES_DIR)


def _load(settings: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    return load_settings(Config(plugins={"callbacks": settings}), RULES, env or {})


def test_defaults_need_no_settings() -> None:
    loaded = _load({})
    assert loaded.secrets == () and loaded.destinations == {}
    assert loaded.tolerance_seconds == 300 and loaded.outbox.max_attempts == 8


def test_the_file_configures_destinations_outbox_and_double_opt_in() -> None:
    secret = new_secret()
    loaded = _load({
        "webhook_secrets": [secret],
        "max_body_bytes": 4096,
        "destinations": {"esp": {"url": "https://esp.test/s", "channels": ["email"],
                                 "topics": ["newsletter"], "secret": secret}},
        "outbox": {"max_attempts": 3, "base_delay_seconds": 0.5},
        "double_opt_in": {"channels": ["email"], "jurisdictions": ["EU", "UK"]},
    })
    assert loaded.secrets == (secret,)
    assert loaded.max_body_bytes == 4096
    assert loaded.destinations["esp"].channels == frozenset({"email"})
    assert (loaded.outbox.max_attempts, loaded.outbox.base_delay_seconds) == (3, 0.5)
    assert loaded.double_opt_in.required("email", "EU")
    assert not loaded.double_opt_in.required("email", "US-CA")
    assert not loaded.double_opt_in.required("sms", "EU")


def test_the_environment_replaces_the_files_secrets() -> None:
    first, second = new_secret(), new_secret()
    loaded = _load({"webhook_secrets": [new_secret()]}, {SECRETS_ENV: f"{first}, {second}"})
    assert loaded.secrets == (first, second)


@pytest.mark.parametrize("settings, where", [
    ({"destinations": {"crm": {"url": "https://crm.test"}}}, "destinations.crm"),
    ({"destinations": {"esp": {"url": "https://esp.test", "channels": ["fax"]}}},
     "destinations.esp.channels.0"),
    ({"destinations": {"esp": {"url": "ftp://esp.test"}}}, "destinations.esp.url"),
    ({"double_opt_in": {"jurisdictions": ["Atlantis"]}}, "double_opt_in.jurisdictions.0"),
    ({"outbox": {"max_attempts": 0}}, "outbox.max_attempts"),
    ({"surprise": 1}, "surprise"),
])
def test_errors_name_the_key(settings: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(settings)
    assert f"plugins.callbacks.{where}" in str(raised.value)


def test_a_bad_secret_is_named_by_position_never_quoted() -> None:
    bad = "whsec_not base64!"
    with pytest.raises(ConfigError) as raised:
        _load({}, {SECRETS_ENV: f"{new_secret()},{bad}"})
    assert "entry 2" in str(raised.value) and bad not in str(raised.value)
