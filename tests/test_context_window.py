"""A model's context window (config, model row, server, default) and a server's refusal of a longer request, in the
words of vLLM, OpenAI, llama.cpp and Anthropic: recognised, never retried, its window learnt."""

from __future__ import annotations

import pytest
from fake_server import FakeServer
from thinking_server import ThinkingServer

from codescale.agent.models.base import ContextLengthError, Model, ModelConfig, ModelError, RetryConfig
from codescale.agent.models.window import DEFAULT_WINDOW, context_refusal

FAST = RetryConfig(attempts=4, min_wait=0.01, max_wait=0.02)
LONG = [{"role": "user", "content": "word " * 120}]


def model(server: FakeServer, model_id: str = "openai/fake-model", **config) -> Model:
    base_url = server.url if model_id.startswith("anthropic/") else server.openai_url
    return Model(ModelConfig(id=model_id, base_url=base_url, retries=FAST, **config))


def test_the_config_wins_over_row_and_server():
    with FakeServer(window=6000) as server:
        assert model(server, "openai/gpt-4o", context_window=5000).window_source == (5000, "config")
        assert [r.path for r in server.requests] == []


def test_the_row_wins_over_the_server():
    with FakeServer(window=6000) as server:
        assert model(server, "openai/gpt-4o").window_source == (128000, "row")
        assert [r.path for r in server.requests] == []


def test_vllm_says_its_max_model_len():
    with FakeServer(window=6000, models=["fake-model"]) as server:
        assert model(server, "vllm/fake-model").window_source == (6000, "server")
        assert [(r.method, r.path) for r in server.requests] == [("GET", "/v1/models")]


def test_llama_cpp_says_its_n_ctx_in_props():
    with FakeServer() as server:
        server.routes[("GET", "/props")] = lambda body: {"default_generation_settings": {"n_ctx": 4096}}
        assert model(server).window_source == (4096, "server")
        assert [r.path for r in server.requests] == ["/v1/models", "/props"]


def test_a_server_that_says_nothing_gets_the_default():
    with FakeServer() as server:
        assert model(server).window_source == (DEFAULT_WINDOW, "default")


def test_local_model_window_is_its_rows_n_ctx():
    pytest.importorskip("llama_cpp")
    with FakeServer(models=["qwen2.5-coder-0.5b"]) as server:  # llama-cpp-python's server says nothing of its window
        assert model(server, "local/qwen2.5-coder-0.5b").window_source == (16384, "server")


@pytest.mark.parametrize("wording", ["vllm", "openai", "llama.cpp"])
def test_an_openai_compatible_refusal_is_a_context_error_not_retried(wording):
    with FakeServer(window=100, window_error=wording, replies=["never sent"]) as server:
        m = model(server, context_window=1000)
        with pytest.raises(ContextLengthError) as caught:
            m.complete(LONG, max_tokens=10)
    assert len(server.requests) == 1
    assert caught.value.window == 100
    assert m.window_source == (100, "refusal")


def test_an_anthropic_refusal_is_a_context_error_not_retried():
    with FakeServer(window=100, replies=["never sent"]) as server:
        m = model(server, "anthropic/claude-haiku-4-5")
        with pytest.raises(ContextLengthError) as caught:
            m.complete(LONG, max_tokens=10)
    assert len(server.requests) == 1
    assert caught.value.window == 100
    assert m.context_window == 100


def test_another_bad_request_is_no_context_error(fake_server):
    fake_server.faults.append(("status", 400))
    with pytest.raises(ModelError) as caught:
        model(fake_server).complete(LONG)
    assert type(caught.value) is ModelError


@pytest.mark.parametrize("message, window", [
    ("This model's maximum context length is 128000 tokens. However, your messages resulted in 130274 tokens.", 128000),
    ("The decoder prompt (length 9000) is longer than the maximum model length of 8192. Make sure that", 8192),
    ("Input length (9000) exceeds model's maximum context length (8192).", 8192),
    ("Input tokens exceed the configured limit of 272000 tokens. Your messages resulted in 300000 tokens.", 272000),
    ("Your input exceeds the context window of this model. Please adjust your input and try again.", None),
    ("input length and `max_tokens` exceed context limit: 198000 + 4096 > 200000, decrease input length", 200000),
    ("the request exceeds the available context size, try increasing it", None),
])
def test_the_wordings_of_other_versions_are_recognised(message, window):
    assert context_refusal(message) == (True, window)


def test_vllm_counts_a_request_with_its_tokenizer():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "one two three"}]
    with ThinkingServer(models=["fake"]) as server:
        m = Model(ModelConfig(id="vllm/fake", base_url=server.openai_url, retries=FAST))
        count = m.count_tokens(messages)
        (body,) = [r.json for r in server.requests if r.path == "/tokenize"]
    # ChatML rendered, a token a word with the space before it: "<|im_start|>system", "Be", "brief.<|im_end|>",
    # "<|im_start|>user", "one", "two", "three<|im_end|>", "<|im_start|>assistant"
    assert count == 8
    assert body["messages"] == messages and body["add_generation_prompt"] is True


def test_other_servers_count_nothing(fake_server):
    assert model(fake_server).count_tokens(LONG) is None
    assert fake_server.requests == []


def test_a_server_is_asked_once_per_process_and_a_refusal_teaches_every_model():
    with FakeServer(window=6000, replies=["never sent"]) as server:
        assert [model(server).context_window for _ in range(3)] == [6000] * 3
        server.window = 100  # restarted smaller, say: the next long request is refused
        with pytest.raises(ContextLengthError):
            model(server).complete(LONG, max_tokens=10)
        assert model(server).window_source == (100, "refusal")
    assert [r.path for r in server.requests] == ["/v1/models", "/v1/chat/completions"]
