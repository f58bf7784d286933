"""Optional parts of the install: a feature whose extra is missing says which extra to install, in one line."""

from __future__ import annotations

import importlib.util

EXTRAS = {
    "swebench": "the official SWE-bench grading harness",
    "datasets": "Hugging Face datasets and .parquet task files",
    "track": "experiment tracking with MLflow",
}
"""Extra name -> what it brings (pyproject.toml's optional-dependencies are the packages)."""


class MissingExtraError(RuntimeError):
    """A feature needs an optional extra that is not installed; the message says what to install."""


def require(module: str, extra: str, feature: str) -> None:
    """Raise MissingExtraError unless `module` can be imported (found without importing it: no cost)."""
    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(
            f"{feature} needs the `{extra}` extra ({EXTRAS[extra]}), which is not installed: "
            f'pip install "codescale[{extra}]" (in a clone: pip install -e ".[{extra}]")'
        )
