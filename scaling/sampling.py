"""Whether a run's rollouts can differ: the temperature warning and the diversity of a generation."""

from __future__ import annotations

from codescale.agent.models.base import ModelConfig
from codescale.agent.models.catalog import model_info
from codescale.agent.models.providers import endpoint
from codescale.scaling.rtv import normalise_patch


def diversity(patches: list[str]) -> float:
    """Distinct non-empty patches (as `normalise_patch` compares them) / the number of rollouts; 0 for none."""
    if not patches:
        return 0.0
    distinct = {normalise_patch(p) for p in patches if p.strip()}
    return round(len(distinct) / len(patches), 4)


def temperature_sent(model: ModelConfig) -> bool:
    """Whether the model's requests carry a temperature (its row, else its provider's default: not on Anthropic's
    Messages API)."""
    accepted = model_info(model.id).temperature
    return accepted if accepted is not None else endpoint(model.id, model.base_url).sends_temperature


def sampling_warning(model: ModelConfig, *, strategy: str, n: int) -> str:
    """One warning when N > 1 rollouts would be sampled greedily (temperature 0 sent), else ''."""
    if strategy == "single" or n <= 1 or model.temperature > 0 or not temperature_sent(model):
        return ""
    return (f"{n} rollouts per task at model.temperature 0 ({model.id}): they will be near-identical and "
            f"{strategy} has little to choose from; set model.temperature above 0 (the strategy presets do)")
