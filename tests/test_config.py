"""plugins.toml: each kind of malformed file gives an error naming file, table and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field
from pygent_kernel import Kernel, parse_config, read_config
from pygent_sdk import ConfigError, ConfigErrors, Plugin, PluginConfig


class WidgetConfig(PluginConfig):
    size: int = Field(3, ge=1, description="How big.")
    label: str = Field("w", description="What it says.")


class Widget(Plugin):
    Config = WidgetConfig


def kernel_from(tmp_path: Path, text: str, **classes: type[Plugin]) -> Kernel:
    path = tmp_path / "plugins.toml"
    path.write_text(text)
    return Kernel(read_config(path), classes or {"widget": Widget})


def messages(kernel: Kernel) -> list[str]:
    return [str(e) for e, _ in kernel.errors]


def test_valid_config_is_validated_into_the_config_class(tmp_path: Path) -> None:
    kernel = kernel_from(tmp_path, '[widget]\nsize = 5\n')
    assert kernel.errors == []
    assert kernel.plugins["widget"].config == WidgetConfig(size=5)


def test_wrong_type_names_file_table_key_and_value(tmp_path: Path) -> None:
    (msg,) = messages(kernel_from(tmp_path, '[widget]\nsize = "big"\n'))
    assert msg.startswith(f"{tmp_path / 'plugins.toml'} [widget] key 'size':")
    assert "valid integer" in msg and "'big'" in msg


def test_unknown_key_lists_the_allowed_keys(tmp_path: Path) -> None:
    (msg,) = messages(kernel_from(tmp_path, '[widget]\ncolour = "red"\n'))
    assert "[widget] key 'colour': unknown key; expected one of: size, label" in msg


def test_unknown_plugin_lists_installed_plugins(tmp_path: Path) -> None:
    (msg,) = messages(kernel_from(tmp_path, '[widget]\n[wigdet]\n'))
    assert "[wigdet]: no installed plugin is named 'wigdet'" in msg
    assert "installed plugins:" in msg and "heartbeat" in msg


def test_missing_env_var_names_the_variable_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYGENT_TEST_LABEL", raising=False)
    (msg,) = messages(kernel_from(tmp_path, '[widget]\nlabel = "${PYGENT_TEST_LABEL}"\n'))
    assert "[widget] key 'label': environment variable PYGENT_TEST_LABEL is not set" in msg


def test_env_vars_and_defaults_are_substituted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYGENT_TEST_LABEL", "secret")
    config = parse_config({"widget": {"label": "${PYGENT_TEST_LABEL}", "x": ["${UNSET_X:-d}"]}})
    assert config.plugins[0].options == {"label": "secret", "x": ["d"]}


def test_reserved_keys_are_checked(tmp_path: Path) -> None:
    msgs = messages(kernel_from(tmp_path, '[widget]\nenabled = "yes"\non_error = "ignore"\n'))
    assert len(msgs) == 1 and "key 'enabled': must be true or false" in msgs[0]
    (msg,) = messages(kernel_from(tmp_path, '[widget]\non_error = "ignore"\n'))
    assert "key 'on_error': must be \"stop\" or \"continue\"" in msg


def test_disabled_plugin_is_not_loaded_nor_validated(tmp_path: Path) -> None:
    kernel = kernel_from(tmp_path, '[widget]\nenabled = false\nsize = "not checked"\n')
    assert kernel.errors == [] and kernel.plugins["widget"].instance is None
    assert kernel.order == []


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    kernel = kernel_from(tmp_path, 'stray = 1\n[kernel]\nbus_maxsize = 0\n[widget]\nsize = 0\n[nope]\n')
    msgs = messages(kernel)
    assert len(msgs) == 4, msgs
    with pytest.raises(ConfigErrors) as info:
        kernel.raise_fatal()
    assert len(info.value.errors) == 4


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "plugins.toml"
    path.write_text("[widget\n")
    with pytest.raises(ConfigError, match=r"plugins.toml: is not valid TOML: .*line 1"):
        read_config(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        Kernel.from_config(tmp_path / "nope.toml")
