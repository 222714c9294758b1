"""One Settings object, layered: defaults < config file (XDG) < environment < command-line flags.

`Settings.sources` remembers which layer each value came from, so `doctor` can explain a surprising value.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from foundry_tui import paths
from foundry_tui.errors import BadInputError, one_line


@dataclass(frozen=True)
class Settings:
    endpoint: str | None = None  # None → in-process Foundry Local runtime
    api_key: str | None = None  # sent to the endpoint as a bearer token; local servers ignore it
    cache_dir: Path | None = None  # Foundry model cache; None → <data_dir>/foundry/cache/models
    data_dir: Path = field(default_factory=paths.default_data_dir)
    max_tokens: int = 512  # always sent: without it some servers stop at ~512 tokens, Foundry fails outright
    temperature: float = 0.0  # deterministic by default: probes and benchmarks should be repeatable
    request_timeout_s: float = 120.0  # whole request, for non-streamed calls
    stall_timeout_s: float = 60.0  # no piece between two pieces of a stream for this long → reported as stalled
    first_token_timeout_s: float = 300.0  # no first piece this long after sending → failed (a long prompt's prefill)
    catalog_url: str | None = None  # None → the runtime's default, the Azure Foundry Local catalog
    catalog_region: str | None = None  # Azure region for the model registry; None → the catalog's hint
    config_file: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def foundry_app_dir(self) -> Path:
        return self.data_dir / "foundry"

    @property
    def model_cache_dir(self) -> Path:
        return self.cache_dir or self.foundry_app_dir / "cache" / "models"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    def public_dict(self) -> dict[str, Any]:
        """Settings as JSON-friendly values, with the API key masked."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            if f.name == "api_key" and value:
                value = "***"
            out[f.name] = str(value) if isinstance(value, Path) else value
        out["model_cache_dir"] = str(self.model_cache_dir)
        return out


def _positive_int(name: str) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise BadInputError(f"{name} must be a whole number, got {value!r}") from None
        if number <= 0:
            raise BadInputError(f"{name} must be greater than 0, got {number}")
        return number

    return parse


def _float_in(name: str, low: float, high: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BadInputError(f"{name} must be a number, got {value!r}") from None
        if not low <= number <= high:
            raise BadInputError(f"{name} must be between {low} and {high}, got {number}")
        return number

    return parse


def _path(value: Any) -> Path:
    return Path(os.path.expanduser(str(value)))


def _endpoint(value: Any) -> str | None:
    text = str(value).strip()
    return endpoint_url(text) if text else None


def endpoint_url(text: str) -> str:
    """`text` checked as an endpoint URL (http or https, a host, a valid port), without a trailing slash;
    BadInputError (one line) otherwise. `--endpoint`, the config file and `URL#MODEL` entries all go through it."""
    url = text.strip()
    shown = one_line(url, 200)
    if not url.startswith(("http://", "https://")):
        raise BadInputError(f"endpoint {shown!r} must start with http:// or https://")
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a port that is not a number in 0-65535
    except ValueError as exc:
        raise BadInputError(f"endpoint {shown!r} has a bad port: {one_line(str(exc), 100)}") from None
    if port == 0:
        raise BadInputError(f"endpoint {shown!r} has a bad port: 0")
    if not parts.hostname:
        raise BadInputError(f"endpoint {shown!r} has no host")
    return url.rstrip("/")


CATALOG_PATH = "/asset-gallery/v1.0/models"


def _catalog_url(value: Any) -> str | None:
    """A catalog URL as the runtime accepts it: http(s), path ending in /asset-gallery/v1.0/models. A bare host
    (a mirror's root) gets that path added."""
    text = str(value).strip()
    if not text:
        return None
    if not text.startswith(("http://", "https://")):
        raise BadInputError(f"catalog_url must start with http:// or https://, got {text!r}")
    scheme, _, rest = text.partition("://")
    host, slash, path = rest.partition("/")
    if not host:
        raise BadInputError(f"catalog_url has no host: {text!r}")
    path = "/" + path.rstrip("/") if slash else ""
    if path in ("", "/"):
        return f"{scheme}://{host}{CATALOG_PATH}"
    if "/ux/v1.0" in path:
        raise BadInputError(f"catalog_url {text!r} is a legacy /ux/v1.0 URL; use a {CATALOG_PATH} one")
    if not path.split("?")[0].endswith(CATALOG_PATH):
        raise BadInputError(f"catalog_url must end in {CATALOG_PATH} (the runtime rejects other paths), got {text!r}")
    return f"{scheme}://{host}{path}"


def _region(value: Any) -> str | None:
    text = str(value).strip()
    if not text:
        return None
    if any(c.isspace() for c in text):
        raise BadInputError(f"catalog_region must be one word such as eastus, got {text!r}")
    return text


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


# name → (parser, environment variable). Config-file keys are the same names.
_FIELDS: dict[str, tuple[Callable[[Any], Any], str | None]] = {
    "endpoint": (_endpoint, "FOUNDRY_LOCAL_ENDPOINT"),
    "api_key": (_text, "FOUNDRY_TUI_API_KEY"),
    "cache_dir": (_path, "FOUNDRY_TUI_CACHE_DIR"),
    "data_dir": (_path, "FOUNDRY_TUI_DATA_DIR"),
    "max_tokens": (_positive_int("max_tokens"), "FOUNDRY_TUI_MAX_TOKENS"),
    "temperature": (_float_in("temperature", 0.0, 2.0), "FOUNDRY_TUI_TEMPERATURE"),
    "catalog_url": (_catalog_url, "FOUNDRY_TUI_CATALOG_URL"),
    "catalog_region": (_region, "FOUNDRY_TUI_CATALOG_REGION"),
    "request_timeout_s": (_float_in("request_timeout_s", 0.1, 86400.0), None),
    "stall_timeout_s": (_float_in("stall_timeout_s", 0.1, 86400.0), "FOUNDRY_TUI_STALL_TIMEOUT"),
    "first_token_timeout_s": (_float_in("first_token_timeout_s", 0.1, 86400.0), "FOUNDRY_TUI_FIRST_TOKEN_TIMEOUT"),
}


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise BadInputError(f"cannot read config file {path}: {exc.strerror}") from None
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise BadInputError(f"config file {path}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(_FIELDS))})")
    return data


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build Settings from the four layers. `flags` holds only the flags the user actually gave."""
    env = os.environ if environ is None else environ
    explicit_file = config_file or (Path(env["FOUNDRY_TUI_CONFIG"]) if env.get("FOUNDRY_TUI_CONFIG") else None)
    file_path = explicit_file or paths.default_config_file(env)
    if explicit_file is not None and not explicit_file.is_file():
        raise BadInputError(f"config file {explicit_file} does not exist")
    file_values = _read_config_file(file_path)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, (parse, env_name) in _FIELDS.items():
        if flags and flags.get(name) is not None:
            raw, source = flags[name], "flag"
        elif env_name and env.get(env_name):
            raw, source = env[env_name], f"env {env_name}"
        elif name in file_values:
            raw, source = file_values[name], f"config {file_path}"
        else:
            continue
        try:
            values[name] = parse(raw)
        except BadInputError as exc:
            raise BadInputError(f"{exc} (from {source})") from None
        sources[name] = source
    values.setdefault("data_dir", paths.default_data_dir(env))
    return Settings(**values, config_file=file_path if file_values else None, sources=sources)
