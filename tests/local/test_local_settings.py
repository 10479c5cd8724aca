"""The local stack's provider settings come from the provider registry."""

from __future__ import annotations

from swapgate.providers.registry import DEFAULT_PROVIDER
from swapgate_dev.local import LocalSettings


def test_provider_settings_set_by_the_developer_are_passed_on():
    env = {"TTAPI_API_KEY": "k", "AIFACESWAP_BASE_URL": "http://127.0.0.1:1", "OTHER_API_KEY": "x"}
    settings = LocalSettings.from_env(env)
    assert settings.providers == {"TTAPI_API_KEY": "k", "AIFACESWAP_BASE_URL": "http://127.0.0.1:1"}
    assert settings.configured_providers() == ["local", "ttapi"]  # a base URL alone enables nothing
    assert settings.provider == DEFAULT_PROVIDER == "local"


def test_every_provider_with_its_key_is_configured():
    settings = LocalSettings.from_env(
        {"AIFACESWAP_API_KEY": "a", "TTAPI_API_KEY": "t", "SWAPGATE_PROVIDER": "ttapi"}
    )
    assert settings.configured_providers() == ["local", "aifaceswap", "ttapi"]
    assert settings.provider == "ttapi"
