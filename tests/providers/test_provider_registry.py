"""The provider registry: names, capabilities, configuration from the environment (and SSM), the
not-configured message, and one cached client per configuration."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util

import pytest
from support import PROVIDER_KEY as KEY
from swapgate import errors
from swapgate.providers import registry
from swapgate.providers.aifaceswap import AifaceswapProvider
from swapgate.providers.base import ImageInput, Operation, ProviderState
from swapgate.providers.ttapi import TtapiProvider

VARS = [
    "SWAPGATE_PROVIDER",
    "AIFACESWAP_API_KEY",
    "AIFACESWAP_API_KEY_PARAM",
    "AIFACESWAP_BASE_URL",
    "TTAPI_API_KEY",
    "TTAPI_API_KEY_PARAM",
    "TTAPI_BASE_URL",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in VARS:
        monkeypatch.delenv(name, raising=False)
    registry.clear_cache()
    yield
    registry.clear_cache()


def test_names_and_capabilities():
    assert registry.provider_names() == ("aifaceswap", "ttapi", "local")
    assert registry.providers_supporting(Operation.SWAP) == ("aifaceswap", "ttapi", "local")
    assert registry.providers_supporting("multi_swap") == ("aifaceswap", "local")
    assert registry.providers_supporting(Operation.EXTRACT_FACES) == ("aifaceswap", "local")
    assert registry.providers_supporting(Operation.FETCH) == ("ttapi", "local")
    with pytest.raises(errors.InvalidRequest) as caught:
        registry.providers_supporting("teleport")
    assert caught.value.field == "operation"


@pytest.mark.parametrize("cls", [AifaceswapProvider, TtapiProvider])
def test_static_table_matches_the_adapters(cls):
    spec = registry.provider_spec(cls.name)
    assert spec.operations == cls.operations
    assert spec.accepts_bytes == cls.accepts_bytes


def test_static_table_matches_the_local_provider():
    if importlib.util.find_spec("swapgate.providers.local") is None:
        pytest.skip("swapgate.providers.local is not written yet")
    from swapgate.providers.local import LocalProvider

    spec = registry.provider_spec("local")
    assert spec.operations == LocalProvider.operations
    assert spec.accepts_bytes == LocalProvider.accepts_bytes


@pytest.mark.parametrize(("name", "var"), [("aifaceswap", "AIFACESWAP_API_KEY"), ("ttapi", "TTAPI_API_KEY")])
def test_missing_key_names_the_variable_to_set(name, var):
    assert not registry.is_configured(name)
    with pytest.raises(errors.ProviderNotConfigured) as caught:
        registry.get_provider(name)
    assert var in caught.value.message
    assert f"{var}_PARAM" in caught.value.message
    assert caught.value.code == "provider_not_configured"
    assert caught.value.status == 503


def test_empty_key_counts_as_missing(monkeypatch):
    monkeypatch.setenv("TTAPI_API_KEY", "")
    with pytest.raises(errors.ProviderNotConfigured):
        registry.get_provider("ttapi")


@pytest.mark.parametrize("name", ["nope", "", "aifaceswap.com"])
def test_unknown_provider_is_invalid_request(name):
    with pytest.raises(errors.InvalidRequest) as caught:
        registry.get_provider(name)
    assert caught.value.field == "provider"
    assert "aifaceswap, ttapi, local" in caught.value.message


def test_default_provider_name(monkeypatch):
    assert registry.default_provider_name() == "local"
    monkeypatch.setenv("SWAPGATE_PROVIDER", " TTAPI ")
    assert registry.default_provider_name() == "ttapi"
    monkeypatch.setenv("TTAPI_API_KEY", KEY)
    assert isinstance(registry.get_provider(None), TtapiProvider)
    assert registry.default_provider() is registry.get_provider("ttapi")


def test_default_base_urls(monkeypatch):
    monkeypatch.setenv("AIFACESWAP_API_KEY", "k1")
    monkeypatch.setenv("TTAPI_API_KEY", "k2")
    assert registry.get_provider("aifaceswap").http.base_url == "https://aifaceswap.io"
    assert registry.get_provider("ttapi").http.base_url == "https://api.ttapi.io"


def test_configured_providers_talk_to_their_base_urls(monkeypatch, fake_aifaceswap, fake_ttapi):
    monkeypatch.setenv("AIFACESWAP_API_KEY", KEY)
    monkeypatch.setenv("AIFACESWAP_BASE_URL", fake_aifaceswap.base_url)
    monkeypatch.setenv("TTAPI_API_KEY", KEY)
    monkeypatch.setenv("TTAPI_BASE_URL", fake_ttapi.base_url + "/")
    urls = ImageInput.from_url("https://i.example/s.jpg"), ImageInput.from_url("https://i.example/f.jpg")

    aifaceswap = registry.get_provider("aifaceswap")
    assert isinstance(aifaceswap, AifaceswapProvider)
    assert aifaceswap.swap(*urls).state is ProviderState.RUNNING
    assert fake_aifaceswap.requests[0].headers["Authorization"] == f"Bearer {KEY}"

    ttapi = registry.get_provider("TTAPI")
    assert isinstance(ttapi, TtapiProvider)
    job = ttapi.swap(*urls)
    assert ttapi.fetch(job.job_id).job_id == job.job_id
    assert fake_ttapi.requests[0].headers["TT-API-KEY"] == KEY


def test_one_client_per_configuration(monkeypatch):
    monkeypatch.setenv("TTAPI_API_KEY", "key-one")
    first = registry.get_provider("ttapi")
    assert registry.get_provider("ttapi") is first  # same Session across invocations
    monkeypatch.setenv("TTAPI_API_KEY", "key-two")  # a rotated key: a new client
    second = registry.get_provider("ttapi")
    assert second is not first
    monkeypatch.setenv("TTAPI_BASE_URL", "https://ttapi.internal.example")
    third = registry.get_provider("ttapi")
    assert third is not second and third.http.base_url == "https://ttapi.internal.example"
    monkeypatch.setenv("TTAPI_API_KEY", "key-one")
    monkeypatch.delenv("TTAPI_BASE_URL")
    assert registry.get_provider("ttapi") is first


def test_key_from_ssm_parameter(monkeypatch):
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        import boto3

        boto3.client("ssm").put_parameter(
            Name="/swapgate/test/aifaceswap-key", Value="from-ssm-123", Type="SecureString"
        )
        monkeypatch.setenv("AIFACESWAP_API_KEY_PARAM", "/swapgate/test/aifaceswap-key")
        provider = registry.get_provider("aifaceswap")
        assert isinstance(provider, AifaceswapProvider)
        assert registry.is_configured("aifaceswap")
        assert "from-ssm-123" not in repr(provider)


def test_local_provider_is_built_lazily():
    if importlib.util.find_spec("swapgate.providers.local") is None:
        pytest.skip("swapgate.providers.local is not written yet")
    provider = registry.get_provider("local")
    assert provider.name == "local"
    assert registry.get_provider(None) is provider  # the default


@pytest.mark.parametrize("name", registry.provider_names())
def test_each_spec_names_its_adapter_which_takes_its_facts_from_it(name):
    if name == "local" and importlib.util.find_spec("swapgate.providers.local") is None:
        pytest.skip("swapgate.providers.local is not written yet")
    spec = registry.provider_spec(name)
    module, _, cls = spec.adapter.partition(":")
    adapter = getattr(importlib.import_module(module), cls)
    assert adapter.spec is spec and adapter.name == name


def test_results_in_bucket_only_for_the_local_engine():
    assert [name for name in registry.provider_names() if registry.results_in_bucket(name)] == ["local"]
    assert registry.results_in_bucket("gone") is False  # a job of a provider no longer listed


def test_missing_extra_is_not_configured_and_names_the_extra(monkeypatch):
    spec = dataclasses.replace(registry.provider_spec("local"), adapter="swapgate_missing_engine:Engine")
    monkeypatch.setitem(registry.PROVIDERS, "local", spec)
    with pytest.raises(errors.ProviderNotConfigured) as caught:
        registry.get_provider("local")
    assert caught.value.message == (
        "provider 'local' is not available: swapgate_missing_engine is not installed "
        "(install the 'local' extra: pip install 'swapgate[local]')"
    )
