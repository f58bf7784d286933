"""Chat templates in the form servers read them (Jinja2 over `messages`, `add_generation_prompt` and the
request's `chat_template_kwargs`), for the fake servers and the real vLLM server's `--chat-template`.

- QWEN3: a thinking model in the style of Qwen3: a final assistant message is rendered as a thinking block
  (`<think>\\n{reasoning}\\n</think>\\n\\n`) followed by its content, so a prefill without a close tag becomes an empty,
  closed thinking block plus the prefill; `enable_thinking=false` closes an empty block in the generation prompt.
- OPENS_THINKING: the same, but its generation prompt opens thinking itself (ends in `<think>\\n`).
- CHATML: a plain chat model.
"""

from __future__ import annotations

_TURNS = (
    "{%- for message in messages -%}"
    "{%- if message.role == 'assistant' -%}"
    "{%- set content = message.content -%}"
    "{%- set reasoning = '' -%}"
    "{%- if '</think>' in content -%}"
    "{%- set reasoning = content.split('</think>')[0].split('<think>')[-1].strip('\\n') -%}"
    "{%- set content = content.split('</think>')[-1].lstrip('\\n') -%}"
    "{%- endif -%}"
    "{%- if loop.last and not add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n<think>\\n' + reasoning + '\\n</think>\\n\\n' + content + '<|im_end|>\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>assistant\\n' + content + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

QWEN3 = _TURNS + (
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}"
    "{{- '<think>\\n\\n</think>\\n\\n' -}}"
    "{%- endif -%}"
    "{%- endif -%}"
)

OPENS_THINKING = _TURNS + "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n<think>\\n' -}}{%- endif -%}"

CHATML = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def render(template: str, messages: list[dict], **kwargs) -> str:
    """`template` applied as a server applies it: a sandboxed Jinja2 environment with trimmed blocks."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return environment.from_string(template).render(messages=messages, **kwargs)
