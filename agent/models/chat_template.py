"""Chat templates applied on the client, for servers that cannot render one on request (llama.cpp's server): the
prompt for the raw completions endpoint, the same shape as on vLLM, where the server's own template renders it: the
generation prompt, then the prefill. Templates are data in configs/models.yaml."""

from __future__ import annotations

import functools

from pydantic import BaseModel, ConfigDict


class ChatTemplate(BaseModel):
    """One entry of `chat_templates` in configs/models.yaml."""

    model_config = ConfigDict(extra="forbid")

    template: str
    """Jinja2 over `messages` (plain dicts in the OpenAI shape); ends with the opening of an assistant turn."""
    stop: list[str] = []
    """Strings that end an assistant turn (sent as stop sequences with every raw request)."""

    def prompt(self, messages: list[dict], prefill: str = "") -> str:
        """The generation prompt (the template's rendering ends with the opening of an assistant turn) followed by
        `prefill`, the start of that turn."""
        return _compile(self.template).render(messages=messages) + prefill


@functools.cache
def _compile(template: str):
    import jinja2

    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True).from_string(template)


def chat_template(name: str) -> ChatTemplate:
    """The named template; a KeyError lists the known ones."""
    from codescale import configs

    templates = configs.load("models").get("chat_templates", {})
    if name not in templates:
        raise KeyError(f"no chat template {name!r} in configs/models.yaml; known: {', '.join(sorted(templates))}")
    return ChatTemplate.model_validate(templates[name])
