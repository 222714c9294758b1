"""Settings layers: defaults < config file < environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundry_tui.config import Settings, load_settings
from foundry_tui.errors import BadInputError


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({}, environ={"XDG_CONFIG_HOME": str(tmp_path)})
    assert settings == Settings(data_dir=settings.data_dir)
    assert settings.endpoint is None
    assert settings.max_tokens == 512
    assert settings.temperature == 0.0
    assert settings.model_cache_dir == settings.data_dir / "foundry" / "cache" / "models"


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'max_tokens = 100\ntemperature = 0.5\nendpoint = "http://file:1"\n')
    env = {"FOUNDRY_TUI_MAX_TOKENS": "200", "FOUNDRY_LOCAL_ENDPOINT": "http://env:2"}
    settings = load_settings({"max_tokens": 300}, environ=env, config_file=config)
    assert settings.max_tokens == 300
    assert settings.endpoint == "http://env:2"
    assert settings.temperature == 0.5
    assert settings.sources["max_tokens"] == "flag"
    assert settings.sources["endpoint"] == "env FOUNDRY_LOCAL_ENDPOINT"
    assert settings.sources["temperature"].startswith("config ")


def test_xdg_config_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "foundry-tui" / "config.toml"
    path.parent.mkdir()
    path.write_text('cache_dir = "~/models"\n')
    settings = load_settings({}, environ={"XDG_CONFIG_HOME": str(tmp_path)})
    assert settings.cache_dir == Path.home() / "models"
    assert settings.model_cache_dir == Path.home() / "models"
    assert settings.config_file == path


def test_cache_dir_from_env(tmp_path: Path) -> None:
    settings = load_settings({}, environ={"FOUNDRY_TUI_CACHE_DIR": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)})
    assert settings.model_cache_dir == tmp_path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_tokens = 'x'", "max_tokens must be a whole number"),
        ("temperature = 5", "temperature must be between 0.0 and 2.0"),
        ("endpoint = 'localhost:5273'", "must start with http://"),
        ("colour = 'red'", "unknown setting 'colour'"),
        ("max_tokens = ", "not valid TOML"),
    ],
)
def test_bad_config_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    config = write_config(tmp_path, text + "\n")
    with pytest.raises(BadInputError, match=message) as info:
        load_settings({}, environ={}, config_file=config)
    assert str(config) in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(BadInputError, match="FOUNDRY_TUI_TEMPERATURE"):
        load_settings({}, environ={"FOUNDRY_TUI_TEMPERATURE": "hot", "XDG_CONFIG_HOME": "/nonexistent"})


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="does not exist"):
        load_settings({}, environ={}, config_file=tmp_path / "nope.toml")


def test_endpoint_trailing_slash_is_dropped() -> None:
    settings = load_settings({"endpoint": "http://127.0.0.1:5273/v1/"}, environ={"XDG_CONFIG_HOME": "/nonexistent"})
    assert settings.endpoint == "http://127.0.0.1:5273/v1"


def test_api_key_is_masked() -> None:
    settings = load_settings({"api_key": "secret"}, environ={"XDG_CONFIG_HOME": "/nonexistent"})
    assert settings.public_dict()["api_key"] == "***"
