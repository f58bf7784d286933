"""A vLLM server through its OpenAI-compatible API (vLLM-only features come later)."""

from __future__ import annotations

from agent.models.base import ModelConfig, ModelError
from agent.models.openai import OpenAIProvider


class VLLMProvider(OpenAIProvider):
    """Like OpenAIProvider, but a base_url is required and the key comes from VLLM_API_KEY
    (the variable vLLM's own server reads), so that an OpenAI key never goes to a local server."""

    key_variable = "VLLM_API_KEY"

    def __init__(self, config: ModelConfig):
        if not config.base_url:
            raise ModelError(f"{config.id}: the vllm backend needs a base_url, e.g. http://localhost:8000/v1")
        super().__init__(config)
