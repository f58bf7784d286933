"""Where a model id's requests go: its prefix names a row of configs/providers.yaml (with the user catalog's merged
over them, catalog.py), which says which client speaks to it (`api`), its base URL and the variable of its key.

`endpoint(model_id, base_url)` resolves an id once, for the Model and its provider; an unknown prefix is a
ValueError that lists the known ones and the `--base-url` form for any other OpenAI-compatible server.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from codescale.agent.models.catalog import CatalogError, catalog

Api = Literal["openai", "anthropic", "vllm", "local", "bedrock", "vertex"]

CLIENTS: dict[str, str] = {
    "openai": "codescale.agent.models.openai.OpenAIProvider",
    "anthropic": "codescale.agent.models.anthropic.AnthropicProvider",
    "vllm": "codescale.agent.models.vllm.VLLMProvider",
    "local": "codescale.agent.models.local.provider.LocalProvider",
    "bedrock": "codescale.agent.models.anthropic_clouds.BedrockProvider",
    "vertex": "codescale.agent.models.anthropic_clouds.VertexProvider",
}
"""api -> the provider class that speaks it."""

ANTHROPIC_APIS = ("anthropic", "bedrock", "vertex")
"""The apis that speak Anthropic's Messages API."""

VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ProviderRow(BaseModel):
    """One provider: the client that speaks to it, where, and with which key."""

    model_config = ConfigDict(extra="forbid")

    api: Api
    """The client: openai, anthropic, vllm, local, bedrock or vertex."""
    base_url: str | None = None
    """Where requests go; `{VARIABLE}` is read from the environment. None: the SDK's default."""
    key: str | None = None
    """The environment variable holding the API key."""
    needs_key: bool = True
    """False: a missing key is no error (the server or the SDK's own credentials decide)."""
    setup: str = ""
    """What else the provider reads from the environment, for `codescale models`."""


@dataclass(frozen=True)
class Endpoint:
    """A model id resolved: which provider and client, the model name it is sent as, where and with which key."""

    provider: str
    """The id's prefix."""
    api: Api
    name: str
    """The model name sent to the server (the id after the prefix)."""
    base_url: str | None
    """The row's base URL, or the one given (--base-url), which wins."""
    key_variable: str | None
    key_required: bool
    """Whether a missing key is an error (else a placeholder is sent, or the SDK's own credentials are used)."""

    @property
    def key(self) -> str | None:
        return os.environ.get(self.key_variable) if self.key_variable else None

    @property
    def sends_temperature(self) -> bool:
        """Whether a model whose row does not say is sent a temperature: not on the Anthropic APIs (newer Claude
        models reject one)."""
        return self.api not in ANTHROPIC_APIS


def provider_rows() -> dict[str, ProviderRow]:
    rows = catalog()
    valid = {}
    for name, row in rows.providers.items():
        try:
            valid[name] = ProviderRow.model_validate(row)
        except ValidationError as e:
            where = rows.user if name in rows.from_user.get("providers", ()) else "configs/providers.yaml"
            problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
            raise CatalogError(f"model catalog {where}: providers.{name}: {problems}") from None
    return valid


def unknown(model_id: str, rows: dict[str, ProviderRow]) -> str:
    return (f"unknown model id {model_id!r}: expected PROVIDER/NAME with PROVIDER one of {', '.join(sorted(rows))} "
            "(`codescale models` lists them); for any other OpenAI-compatible server use "
            "`--model openai/NAME --base-url URL`, or add a provider under `providers:` in "
            "~/.config/codescale/models.yaml")


def endpoint(model_id: str, base_url: str | None = None) -> Endpoint:
    """Resolve `model_id` (and a given base URL) against the provider rows; ValueError when it cannot be."""
    rows = provider_rows()
    prefix, _, name = model_id.partition("/")
    if prefix not in rows or not name:
        raise ValueError(unknown(model_id, rows))
    row = rows[prefix]
    url = base_url or expand(row.base_url, model_id)
    # a server given by URL to a provider without one of its own (a local server) takes a placeholder key
    required = bool(row.key) and row.needs_key and bool(row.base_url or not base_url)
    return Endpoint(provider=prefix, api=row.api, name=name, base_url=url, key_variable=row.key, key_required=required)


def expand(url: str | None, model_id: str) -> str | None:
    """`url` with each `{VARIABLE}` read from the environment (a trailing slash of the value dropped)."""
    if url is None:
        return None
    missing = [v for v in VARIABLE.findall(url) if not os.environ.get(v)]
    if missing:
        raise ValueError(f"{model_id}: set {' and '.join(missing)} (its base URL is {url}), or pass --base-url")
    return VARIABLE.sub(lambda m: os.environ[m.group(1)].rstrip("/"), url)


class Known(BaseModel):
    """What `codescale models` shows: every model row and provider, and where the rows came from."""

    user_catalog: str | None
    """The user catalog merged over the bundled rows (None: none)."""
    models: dict[str, dict]
    """Row key -> its fields set (prices per million tokens, capabilities) and `from` (bundled or user)."""
    providers: dict[str, dict]
    """Prefix -> its row and `key_set` (whether its key variable is set; the key is never shown)."""


def known() -> Known:
    rows = catalog()
    source = lambda section, key: "user" if key in rows.from_user.get(section, ()) else "bundled"  # noqa: E731
    models = {key: {**info.model_dump(exclude_defaults=True), "from": source("models", key)}
              for key, info in rows.models.items()}
    providers = {key: {**row.model_dump(exclude_defaults=True), "key_set": bool(row.key and os.environ.get(row.key)),
                       "from": source("providers", key)}
                 for key, row in provider_rows().items()}
    return Known(user_catalog=str(rows.user) if rows.user else None, models=models, providers=providers)
