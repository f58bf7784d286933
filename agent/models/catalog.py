"""The model catalog: rows of configs/models.yaml (what a model costs and which request parameters it takes) and of
configs/providers.yaml (where a model id's prefix sends its requests), with a user catalog merged over them.

The user catalog is `$CODESCALE_MODELS` (empty: none), else `~/.config/codescale/models.yaml` (under
`$XDG_CONFIG_HOME` when set) if it exists: a YAML file with `models:` and `providers:` mappings whose rows are merged
field by field over the bundled rows of the same key (a new key adds a row).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from codescale import configs
from codescale.agent.records import Usage

SECTIONS = ("models", "providers")
"""What a user catalog may hold."""


class CatalogError(ValueError):
    """A user catalog that cannot be read; the message names the file and the key."""


class ModelInfo(BaseModel):
    """One model's row; an unknown model gets the defaults (no price, every parameter accepted)."""

    model_config = ConfigDict(extra="forbid")

    input: float | None = None
    """USD per million uncached input tokens."""
    output: float | None = None
    """USD per million output tokens, thinking included."""
    cached_input: float | None = None
    """USD per million input tokens read from the prompt cache; the input price when absent."""
    cache_write: float | None = None
    """USD per million input tokens written to the prompt cache (Anthropic: 1.25 x input for the 5-minute cache);
    the input price when absent."""
    temperature: bool | None = None
    """Whether the model takes a temperature; None: the backend's default (sent by openai and vllm,
    not by anthropic, whose newer models reject it)."""
    stop: bool = True
    """Whether the model takes stop sequences (left out, with a warning, when not)."""
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    """Name of the output cap in an OpenAI chat request."""
    thinking: Literal["budget", "effort", "native"] | None = None
    """How thinking is controlled: Anthropic `budget` tokens, OpenAI reasoning `effort`, a vLLM server's
    `native` per-request `thinking_token_budget`, or (None) by the backend's own means (vllm: budget forcing by
    the server's template rendering the generation prompt, the prefill continued on raw completions; openai:
    not at all)."""
    efforts: list[str] | None = None
    """The `reasoning_effort` values the model accepts (None: any)."""
    reply_tokens: int | None = None
    """Tokens one reply may use, thinking included (reasoning models count their thinking in it): the `max_tokens`
    of an agent step when `model.max_tokens` is not set (None: 4096), and of a judge's or summarizer's reply (None:
    2048)."""
    think_open: str = "<think>"
    """Tag that opens the model's thinking (budget forcing)."""
    think_close: str = "</think>"
    """Tag that closes the model's thinking (budget forcing)."""
    thinks: bool = True
    """False: the model does not think, so a thinking setting is not attempted (noted once); a model that ends its
    turn inside the thinking phase is found out at its first forced call anyway."""
    context_window: int | None = None
    """Tokens one request may hold, prompt and reply (None: the server is asked, else a default; see
    agent/models/window.py)."""
    chat_template: str | None = None
    """Name of a template in `chat_templates` of configs/models.yaml: with it, the openai backend forces thinking
    through the raw completions endpoint (for servers that cannot continue an assistant message)."""

    @property
    def priced(self) -> bool:
        return self.input is not None and self.output is not None

    def cost(self, usage: Usage) -> float | None:
        """USD for `usage`, or None when this model has no price. Input tokens read from or written to the prompt
        cache are priced at their own rates."""
        if not self.priced:
            return None
        read = self.input if self.cached_input is None else self.cached_input
        write = self.input if self.cache_write is None else self.cache_write
        plain = usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens
        return (plain * self.input + usage.cached_input_tokens * read + usage.cache_write_tokens * write
                + usage.output_tokens * self.output) / 1e6


@dataclass(frozen=True)
class Catalog:
    """The bundled rows with the user's merged over them."""

    models: dict[str, ModelInfo]
    providers: dict[str, dict[str, Any]]
    """Raw provider rows (validated by providers.py)."""
    name_forms: list[str]
    """Patterns removed in turn from a model name until a row matches (snapshots, Bedrock and Vertex spellings)."""
    user: Path | None = None
    """The user catalog merged in, if any."""
    from_user: dict[str, set[str]] = field(default_factory=dict)
    """Section -> the keys the user catalog set."""


def user_catalog() -> Path | None:
    """The user catalog's path: `$CODESCALE_MODELS` (set but empty: none), else the one in the user's configuration
    folder when it exists."""
    given = os.environ.get("CODESCALE_MODELS")
    if given is not None:
        return Path(given).expanduser() if given.strip() else None
    home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    path = home / "codescale" / "models.yaml"
    return path if path.is_file() else None


def read_user(path: Path) -> dict[str, dict[str, dict]]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as e:
        raise CatalogError(f"model catalog {path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise CatalogError(f"model catalog {path}: not valid YAML: {e}") from None
    if not isinstance(data, dict) or set(data) - set(SECTIONS):
        raise CatalogError(f"model catalog {path}: expected a mapping with {' and/or '.join(SECTIONS)}")
    for section in SECTIONS:
        rows = data.get(section) or {}
        if not isinstance(rows, dict) or not all(isinstance(row or {}, dict) for row in rows.values()):
            raise CatalogError(f"model catalog {path}: `{section}` must map names to rows (mappings)")
        data[section] = {str(key): dict(row or {}) for key, row in rows.items()}
    return data


def build(user: Path | None) -> Catalog:
    bundled = configs.load("models")
    models: dict[str, dict] = {k: dict(v or {}) for k, v in bundled["models"].items()}
    providers: dict[str, dict] = {k: dict(v or {}) for k, v in configs.load("providers")["providers"].items()}
    own = read_user(user) if user is not None else {s: {} for s in SECTIONS}
    for merged, rows in ((models, own["models"]), (providers, own["providers"])):
        for key, row in rows.items():
            merged[key] = {**merged.get(key, {}), **row}
    valid = {}
    for key, row in models.items():
        try:
            valid[key] = ModelInfo.model_validate(row)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
            raise CatalogError(f"model catalog {user or 'configs/models.yaml'}: models.{key}: {problems}") from None
    return Catalog(models=valid, providers=providers, name_forms=list(bundled.get("name_forms", [])), user=user,
                   from_user={s: set(own[s]) for s in SECTIONS})


_cached: dict[tuple, Catalog] = {}
_lock = threading.Lock()


def catalog() -> Catalog:
    """The merged catalog, read again when the user catalog changes (its path or modification time)."""
    user = user_catalog()
    try:
        stamp = user.stat().st_mtime_ns if user is not None else None
    except OSError:
        stamp = -1  # missing: build() says so
    key = (str(user), stamp)
    with _lock:
        if key not in _cached:
            _cached.clear()
            _cached[key] = build(user)
        return _cached[key]


def model_info(model_id: str) -> ModelInfo:
    """The row of a model id (`provider/name`): keyed by the whole id, by the name, or by the name without its first
    segment (`openrouter/openai/gpt-5-mini` -> `gpt-5-mini`), each also in the forms `name_forms` gives (a dated
    snapshot, a Bedrock or Vertex spelling); defaults when none has a row."""
    rows = catalog()
    name = model_id.split("/", 1)[1] if "/" in model_id else model_id
    for candidate in dict.fromkeys([model_id, name, name.split("/", 1)[-1]]):
        form = candidate
        for pattern in ["", *rows.name_forms]:
            form = re.sub(pattern, "", form) if pattern else form
            if form in rows.models:
                return rows.models[form]
    return ModelInfo()
