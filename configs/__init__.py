"""The bundled YAML configuration: prompts, presets, model rows. `load("agent")` reads configs/agent.yaml."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

DIR = Path(__file__).parent


@cache
def _read(path: Path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text()) or {}


def load(name: str) -> dict[str, Any]:
    """The parsed YAML file `configs/<name>.yaml` (a fresh copy; callers may change it)."""
    import copy

    path = DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.relative_to(DIR).with_suffix("").as_posix() for p in DIR.rglob("*.yaml"))
        raise FileNotFoundError(f"no bundled config {name!r}; known: {', '.join(known)}")
    return copy.deepcopy(_read(path))
