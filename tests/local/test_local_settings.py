"""The local stack's provider and signing settings become its environment and template parameters."""

from __future__ import annotations

from swapgate.providers.registry import DEFAULT_PROVIDER
from swapgate_dev.local import LocalSettings
from swapgate_dev.local.settings import LOCAL_C2PA_SECRET


def test_provider_settings_set_by_the_developer_are_passed_on():
    env = {"TTAPI_API_KEY": "k", "AIFACESWAP_BASE_URL": "http://127.0.0.1:1", "OTHER_API_KEY": "x"}
    settings = LocalSettings.from_env(env)
    assert settings.providers == {"TTAPI_API_KEY": "k", "AIFACESWAP_BASE_URL": "http://127.0.0.1:1"}
    assert settings.configured_providers() == ["builtin", "ttapi"]  # a base URL alone enables nothing
    assert settings.provider == DEFAULT_PROVIDER == "builtin"


def test_every_provider_with_its_key_is_configured():
    settings = LocalSettings.from_env(
        {"AIFACESWAP_API_KEY": "a", "TTAPI_API_KEY": "t", "SWAPGATE_PROVIDER": "ttapi"}
    )
    assert settings.configured_providers() == ["builtin", "aifaceswap", "ttapi"]
    assert settings.provider == "ttapi"


def test_a_pem_file_and_its_algorithm_become_the_signing_parameters():
    plain = LocalSettings.from_env({}).template_parameters()
    assert "C2paSigningSecret" not in plain and "C2paSigningAlg" not in plain  # the template's defaults

    env = {"SWAPGATE_C2PA_PEM_FILE": "/keys/bundle.pem", "SWAPGATE_C2PA_ALG": "ps256"}
    parameters = LocalSettings.from_env(env).template_parameters()
    assert parameters["C2paSigningSecret"] == LOCAL_C2PA_SECRET and parameters["C2paSigningAlg"] == "ps256"
