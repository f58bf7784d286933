"""The one config merge: configs/default.yaml (+ agent prompts), a strategy preset, `-c` files and
`-c key.path=value` overrides, then CLI flags that were actually given. Errors name the key at fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict, Field, ValidationError, model_validator

from codescale import configs
from codescale.agent.rollout import RolloutConfig
from codescale.eval.runs.cluster import ClusterConfig
from codescale.eval.tasks.verifier import VerifierConfig
from codescale.scaling.base import ScalingConfig


class RunConfig(RolloutConfig):
    """The whole configuration of a run, saved as run.yaml."""

    model_config = ConfigDict(extra="forbid")

    scaling: ScalingConfig = Field(default_factory=ScalingConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    """Where rollouts run (a Ray cluster, or this process); never changes a result."""
    verifier: VerifierConfig = Field(default_factory=VerifierConfig)
    """How a container task's tests run after its rollout."""

    @model_validator(mode="after")
    def _evidence_sandbox(self) -> RunConfig:
        if not self.scaling.selection.sandbox:  # evidence runs in the run's kind of sandbox unless told otherwise
            self.scaling.selection.sandbox = dict(self.sandbox)
        return self

    @model_validator(mode="after")
    def _condensing_model(self) -> RunConfig:
        if self.agent.condense.model is None and self.scaling.summarizer.model is not None:
            self.agent.condense.model = self.scaling.summarizer.model  # the summarizer's model writes condensations
        return self


class ConfigError(ValueError):
    """A configuration that cannot be used; the message says which file or key."""


def merge(base: dict, update: dict) -> dict:
    """Deep-merge `update` into `base` (mappings merge, everything else replaces)."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def set_path(tree: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = tree.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"-c {dotted}: {key!r} is not a section")
        tree = node
    tree[leaf] = value


def apply_override(tree: dict, item: str) -> None:
    """One `-c` item: a YAML file, or `key.path=value` (the value parsed as YAML)."""
    if "=" in item:
        key, _, raw = item.partition("=")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"-c {item}: the value is not valid YAML ({e.problem})") from None
        set_path(tree, key.strip(), value)
        return
    path = Path(item)
    if not path.is_file():
        raise ConfigError(f"-c {item}: no such file (and not a key.path=value override)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    merge(tree, data)


def strategy_preset(name: str) -> dict:
    """configs/strategies/<name>.yaml when it exists (presets for --strategy), else just the name."""
    try:
        return configs.load(f"strategies/{name}")
    except FileNotFoundError:
        return {"scaling": {"strategy": name}}


def apply(tree: dict, overrides: list[str] = (), flags: dict[str, Any] | None = None) -> dict:
    """`-c` items in order, then the flags that were given (None: not given); the one place overrides apply."""
    for item in overrides:
        apply_override(tree, item)
    for key, value in (flags or {}).items():
        if value is not None:
            set_path(tree, key, value)
    return tree


def validate(tree: dict, where: str = "") -> RunConfig:
    """The RunConfig of a merged tree; errors name every key at fault (and `where` the tree came from)."""
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as e:
        problems = "; ".join(_problem(err) for err in e.errors())
        raise ConfigError(f"invalid configuration{f' ({where})' if where else ''}: {problems}") from None


def _problem(error: dict) -> str:
    """One validation error as `key: what is wrong` (a sandbox error already names its key)."""
    message = error["msg"].removeprefix("Value error, ")
    where = ".".join(map(str, error["loc"])) or "(top)"
    return message if message.startswith(f"{where}.") else f"{where}: {message}"


def run_warnings(config: RunConfig) -> list[str]:
    """Settings that make a run weaker than it looks, said once at its start and recorded in run.yaml."""
    from codescale.scaling.sampling import sampling_warning

    found = [sampling_warning(config.model, strategy=config.scaling.strategy, n=config.scaling.n)]
    return [w for w in found if w]


def load_config(overrides: list[str] = (), flags: dict[str, Any] | None = None, strategy: str | None = None) -> RunConfig:
    """Resolve the run configuration. `flags` maps dotted keys to values of CLI flags that were given."""
    tree = merge(configs.load("default"), configs.load("agent"))
    if strategy:
        preset = strategy_preset(strategy)
        merge(tree, preset)
        if (flags or {}).get("scaling.strategy") == strategy:  # a preset named after what it runs (kim2026: pdr+rtv)
            flags = {**flags, "scaling.strategy": preset["scaling"]["strategy"]}
    return validate(apply(tree, overrides, flags))
