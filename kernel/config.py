"""Reading ``plugins.toml``: tables, reserved keys, ``${ENV_VAR}`` substitution and validation.

Each top-level table names a plugin by its entry-point name, except ``[kernel]``, which holds the
kernel's own settings. ``enabled`` and ``on_error`` are reserved in every plugin table; the other
keys are validated into the plugin's config class.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pygent_sdk.errors import ConfigError, ConfigErrors, PygentError

OnError = Literal["stop", "continue"]
KERNEL_TABLE = "kernel"
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

M = TypeVar("M", bound=BaseModel)


class KernelSettings(BaseModel):
    """The ``[kernel]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(Path(".pygent"), description="Where plugins keep their data.")
    bus_maxsize: int = Field(1000, ge=1, description="Default buffer size of a subscription.")
    stop_timeout: float = Field(10.0, gt=0, description="Seconds each plugin gets to stop.")
    health_timeout: float = Field(5.0, gt=0, description="Seconds each health check may take.")


@dataclasses.dataclass(frozen=True, slots=True)
class PluginEntry:
    """One plugin table as written, after environment substitution."""

    name: str
    enabled: bool = True
    on_error: OnError = "stop"
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    error: PygentError | None = None
    """A problem found while reading the table (bad reserved key, unset env var)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ConfigFile:
    """A parsed ``plugins.toml``: kernel settings and plugin tables in file order.

    ``errors`` holds problems outside plugin tables (the ``[kernel]`` table, stray keys);
    a plugin table's own problem is kept on its entry, so every problem is reported at once.
    """

    source: str
    kernel: KernelSettings
    plugins: tuple[PluginEntry, ...]
    errors: tuple[PygentError, ...] = ()


def read_config(path: str | os.PathLike[str]) -> ConfigFile:
    """Read and parse ``path``; raise ConfigError when the file is missing or not TOML."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise not_found(source) from None
    except OSError as err:
        raise ConfigError(f"cannot be read: {err.strerror}", file=source) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"is not valid TOML: {err}", file=source) from None
    return parse_config(data, source=source)


def not_found(path: str | os.PathLike[str]) -> ConfigError:
    """The error for a config file that does not exist."""
    return ConfigError("file not found; create it or pass another with --config", file=str(path))


def parse_config(
    data: Mapping[str, Any], *, source: str = "<config>", environ: Mapping[str, str] | None = None
) -> ConfigFile:
    """Build a ConfigFile from already-parsed TOML data, collecting every problem in it."""
    environ = os.environ if environ is None else environ
    errors: list[PygentError] = []
    kernel = KernelSettings()
    plugins: list[PluginEntry] = []
    for table, value in data.items():
        if not isinstance(value, Mapping):
            errors.append(ConfigError(
                f"top-level key '{table}' must be a table such as [{table}], "
                f"got {type(value).__name__} {value!r}", file=source,
            ))
            continue
        try:
            value = _substitute(value, environ, source, table)
            if table == KERNEL_TABLE:
                kernel = validate(KernelSettings, value, source=source, table=table)
            else:
                plugins.append(_entry(table, value, source))
        except (ConfigError, ConfigErrors) as err:
            if table == KERNEL_TABLE:
                errors.append(err)
            else:
                on_error = value.get("on_error")
                plugins.append(PluginEntry(
                    table, on_error=on_error if on_error in ("stop", "continue") else "stop",
                    error=err,
                ))
    return ConfigFile(source, kernel, tuple(plugins), tuple(errors))


def validate(model: type[M], options: Mapping[str, Any], *, source: str, table: str) -> M:
    """Validate ``options`` into ``model``; raise ConfigErrors with one line per bad key."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as err:
        allowed = ", ".join(model.model_fields) or "(none)"
        problems: list[PygentError] = []
        for e in err.errors():
            key = ".".join(str(p) for p in e["loc"]) or None
            if e["type"] == "extra_forbidden":
                msg = f"unknown key; expected one of: {allowed}"
            elif e["type"] == "missing":
                msg = "is required but missing"
            else:
                msg = f"{e['msg']} (got {e['input']!r})"
            problems.append(ConfigError(msg, file=source, table=table, key=key))
        raise (problems[0] if len(problems) == 1 else ConfigErrors(problems)) from None


def _entry(table: str, value: Mapping[str, Any], source: str) -> PluginEntry:
    options = dict(value)
    enabled = options.pop("enabled", True)
    on_error = options.pop("on_error", "stop")
    if not isinstance(enabled, bool):
        raise ConfigError(
            f"must be true or false (got {enabled!r})", file=source, table=table, key="enabled"
        )
    if on_error not in ("stop", "continue"):
        raise ConfigError(
            f"must be \"stop\" or \"continue\" (got {on_error!r})",
            file=source, table=table, key="on_error",
        )
    return PluginEntry(table, enabled, on_error, options)


def _substitute(value: Any, environ: Mapping[str, str], source: str, table: str, key: str = "") -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of ``value``."""
    if isinstance(value, str):
        def lookup(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise ConfigError(
                f"environment variable {name} is not set (referenced as {m.group(0)}); "
                f"set it, or write ${{{name}:-default}} to give a default",
                file=source, table=table, key=key or None,
            )
        return _ENV.sub(lookup, value)
    if isinstance(value, Mapping):
        return {k: _substitute(v, environ, source, table, f"{key}.{k}" if key else k)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, environ, source, table, f"{key}[{i}]") for i, v in enumerate(value)]
    return value
