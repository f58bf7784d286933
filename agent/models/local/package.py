"""Local model files: the rows of configs/local.yaml, and the model file joined from the parts its
PyPI packages ship, verified by sha256 and cached so that it is built once per machine."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from codescale import configs

CHUNK = 1 << 20


class ModelPackageError(Exception):
    """A local model that cannot be had: unknown name, a package not installed, a wrong sha256."""


class PartConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    package: str
    """Import name of the package holding the part (located without importing it)."""
    path: str
    """Path of the part inside that package."""


class LocalModelConfig(BaseModel):
    """One row of configs/local.yaml."""

    model_config = ConfigDict(extra="forbid")

    name: str
    """The row's key; the model id is `local/<name>`."""
    description: str = ""
    """One line for help texts and errors."""
    install: str = ""
    """What to pip install for this row (said when a part is missing)."""
    parts: list[PartConfig]
    """Files joined in this order into the model file."""
    file: str
    """Name of the joined file in the cache's models/ folder."""
    sha256: str
    """Of the joined file; a mismatch is an error."""
    size: int
    """Bytes of the joined file."""
    chat_format: str | None = None
    """llama.cpp chat format; None: the chat template stored in the GGUF."""
    server: dict[str, Any] = Field(default_factory=dict)
    """llama_cpp.server settings, named as its --flags without the dashes."""
    repack_weights: bool = False
    """Let llama.cpp move weights into its extra buffer types (CPU_REPACK, AMX); off: plain CPU buffers,
    which run on every x86-64 CPU (AMX crashes on some virtual machines)."""


def local_models() -> dict[str, LocalModelConfig]:
    """Every row of configs/local.yaml, by name."""
    rows = configs.load("local")["models"]
    return {name: LocalModelConfig(name=name, **row) for name, row in rows.items()}


def default_local_model() -> str:
    return configs.load("local")["default"]


def local_model(name: str) -> LocalModelConfig:
    """The row `name`; the error lists the known names."""
    rows = local_models()
    if name not in rows:
        raise ModelPackageError(f"unknown local model {name!r}; known: {', '.join(sorted(rows))}")
    return rows[name]


def cache_dir() -> Path:
    """Where built files go: $CODESCALE_CACHE, else ~/.cache/codescale."""
    return Path(os.environ.get("CODESCALE_CACHE") or Path.home() / ".cache" / "codescale")


def part_path(row: LocalModelConfig, part: PartConfig) -> Path:
    spec = importlib.util.find_spec(part.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelPackageError(
            f"local model {row.name}: package {part.package} is not installed; install {row.install}"
            ' (pip install -e ".[local]" for the default model)'
        )
    path = Path(next(iter(spec.submodule_search_locations))) / part.path
    if not path.is_file():
        raise ModelPackageError(f"local model {row.name}: {path} is missing; reinstall {row.install}")
    return path


def model_file(row: LocalModelConfig) -> Path:
    """The joined, verified model file, built on first use. A stamp file next to it records the
    verified sha256, so later calls check the size and the stamp instead of hashing 500 MB again."""
    target = cache_dir() / "models" / row.file
    stamp = target.with_name(target.name + ".sha256")
    if target.is_file() and target.stat().st_size == row.size and stamp.is_file() and stamp.read_text().strip() == row.sha256:
        return target
    parts = [part_path(row, part) for part in row.parts]
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for path in parts:
                with path.open("rb") as source:
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        size = partial.stat().st_size
        if digest.hexdigest() != row.sha256 or size != row.size:
            raise ModelPackageError(
                f"local model {row.name}: the joined file has sha256 {digest.hexdigest()} and {size} bytes, "
                f"expected {row.sha256} and {row.size} bytes (configs/local.yaml); the installed packages are "
                f"not the recorded ones: reinstall {row.install}"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    stamp.write_text(row.sha256 + "\n")
    return target
