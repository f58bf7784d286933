"""Model clients: the real OpenAI and Anthropic SDKs against the fake model server."""

from __future__ import annotations

import logging
import time

import pytest
from fake_server import FakeServer, Reply

from codescale.agent.models.base import PLACEHOLDER_KEY, Model, ModelConfig, ModelError, RetryConfig, retry_after
from codescale.agent.records import Usage

FAST = RetryConfig(attempts=4, max_seconds=30, min_wait=0.01, max_wait=0.05)
USER = [{"role": "user", "content": "fix the bug please"}]  # 4 words


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "VLLM_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)


def make(server, model_id: str, **config) -> Model:
    base_url = server.url if model_id.startswith("anthropic/") else server.openai_url
    return Model(ModelConfig(id=model_id, base_url=base_url, retries=config.pop("retries", FAST), **config))


BACKENDS = ["openai/fake-model", "vllm/org/fake-model", "anthropic/fake-model"]


@pytest.mark.parametrize("model_id", BACKENDS)
def test_text_and_usage(fake_server, model_id):
    fake_server.replies.append("one two three")
    fake_server.cached_tokens = 3
    [completion] = make(fake_server, model_id).complete(USER)
    assert completion.text == "one two three"
    assert completion.finish_reason == "stop"
    assert completion.usage == Usage(input_tokens=4, output_tokens=3, cached_input_tokens=3, requests=1)
    assert fake_server.requests[0].json["model"] == model_id.split("/", 1)[1]


@pytest.mark.parametrize("model_id", BACKENDS)
def test_thinking_is_returned_and_counted(fake_server, model_id):
    fake_server.replies.append(Reply("the answer", thinking="let me think"))
    [completion] = make(fake_server, model_id).complete(USER)
    assert (completion.text, completion.thinking) == ("the answer", "let me think")
    assert (completion.usage.output_tokens, completion.usage.thinking_tokens) == (5, 3)


@pytest.mark.parametrize("model_id", ["openai/fake-model", "vllm/fake-model"])
def test_n_samples_in_one_request(fake_server, model_id):
    fake_server.replies.extend(["a", "b c", "d e f"])
    model = make(fake_server, model_id)
    completions = model.complete(USER, n=3)
    assert [c.text for c in completions] == ["a", "b c", "d e f"]
    assert [c.usage.requests for c in completions] == [1, 0, 0]
    assert model.usage == Usage(input_tokens=4, output_tokens=6, requests=1)
    assert len(fake_server.requests) == 1 and fake_server.requests[0].json["n"] == 3


def test_anthropic_n_is_n_requests(fake_server):
    fake_server.replies.extend(["a", "b c"])
    model = make(fake_server, "anthropic/fake-model")
    assert [c.text for c in model.complete(USER, n=2)] == ["a", "b c"]
    assert model.usage == Usage(input_tokens=8, output_tokens=3, requests=2)
    assert len(fake_server.requests) == 2


def test_anthropic_system_messages_go_to_system(fake_server):
    fake_server.replies.append("ok")
    messages = [{"role": "system", "content": "be brief"}, *USER]
    [completion] = make(fake_server, "anthropic/fake-model").complete(messages, stop=["END"], max_tokens=50)
    body = fake_server.requests[0].json
    assert body["system"] == [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}]
    assert body["messages"] == USER  # a prompt sent once: only the system prompt is marked for the cache
    assert (body["stop_sequences"], body["max_tokens"]) == (["END"], 50)
    assert completion.usage.input_tokens == 6


def test_stop_sequence_cuts_reply(fake_server):
    fake_server.replies.append("run ls\nOBSERVATION: more")
    [completion] = make(fake_server, "openai/fake-model").complete(USER, stop=["OBSERVATION:"])
    assert completion.text == "run ls\n"
    assert fake_server.requests[0].json["stop"] == ["OBSERVATION:"]


def test_responder_sees_the_request(fake_server):
    fake_server.responder = lambda body: f"echo {body['messages'][-1]['content'].split()[0]}"
    assert make(fake_server, "openai/fake-model").complete(USER)[0].text == "echo fix"


@pytest.mark.parametrize("model_id", BACKENDS)
def test_retries_through_server_error(fake_server, model_id):
    fake_server.faults.extend([("status", 500), ("status", 503)])
    fake_server.replies.append("fine")
    model = make(fake_server, model_id)
    assert model.complete(USER)[0].text == "fine"
    assert len(fake_server.requests) == 3
    assert model.usage.requests == 1


@pytest.mark.parametrize("model_id", ["openai/fake-model", "anthropic/fake-model"])
def test_429_waits_for_retry_after(fake_server, model_id):
    fake_server.faults.append(("status", 429, 1))
    fake_server.replies.append("fine")
    model = make(fake_server, model_id, retries=RetryConfig(attempts=3, min_wait=0.01, max_wait=5))
    start = time.monotonic()
    assert model.complete(USER)[0].text == "fine"
    assert time.monotonic() - start >= 1
    first, second = fake_server.requests
    assert second.time - first.time >= 1


@pytest.mark.parametrize("model_id", ["openai/fake-model", "anthropic/fake-model"])
def test_retries_through_a_hang(fake_server, model_id):
    fake_server.faults.append(("hang", 5))
    fake_server.replies.append("fine")
    start = time.monotonic()
    assert make(fake_server, model_id, timeout=0.5).complete(USER)[0].text == "fine"
    assert 0.5 <= time.monotonic() - start < 3
    assert len(fake_server.requests) == 2


@pytest.mark.parametrize("model_id", ["openai/fake-model", "anthropic/fake-model"])
def test_retries_through_malformed_json(fake_server, model_id):
    fake_server.faults.append(("malformed",))
    fake_server.replies.append("fine")
    assert make(fake_server, model_id).complete(USER)[0].text == "fine"
    assert len(fake_server.requests) == 2


def test_gives_up_after_attempts(fake_server):
    fake_server.faults.extend([("status", 500)] * 10)
    with pytest.raises(ModelError, match=r"gave up after retries: openai/fake-model: HTTP 500"):
        make(fake_server, "openai/fake-model").complete(USER)
    assert len(fake_server.requests) == FAST.attempts


def test_gives_up_after_max_seconds(fake_server):
    fake_server.faults.extend([("status", 502)] * 1000)
    retries = RetryConfig(attempts=1000, max_seconds=0.5, min_wait=0.1, max_wait=0.1)
    start = time.monotonic()
    with pytest.raises(ModelError, match="gave up after retries"):
        make(fake_server, "openai/fake-model", retries=retries).complete(USER)
    assert time.monotonic() - start < 0.9
    assert 3 <= len(fake_server.requests) <= 6


def test_retry_after_longer_than_max_seconds_gives_up_at_once(fake_server):
    fake_server.faults.append(("status", 429, 30))
    retries = RetryConfig(attempts=5, max_seconds=2, min_wait=0.01, max_wait=60)
    start = time.monotonic()
    with pytest.raises(ModelError, match="HTTP 429"):
        make(fake_server, "openai/fake-model", retries=retries).complete(USER)
    assert time.monotonic() - start < 1
    assert len(fake_server.requests) == 1


@pytest.mark.parametrize("model_id", ["openai/fake-model", "anthropic/fake-model"])
@pytest.mark.parametrize(
    "status, message",
    [
        (400, "HTTP 400: fake server: injected status 400"),
        (404, "HTTP 404: fake server: injected status 404 (unknown model name or wrong base_url)"),
    ],
)
def test_client_errors_are_not_retried(fake_server, model_id, status, message):
    fake_server.faults.append(("status", status))
    with pytest.raises(ModelError) as error:
        make(fake_server, model_id).complete(USER)
    assert str(error.value) == f"{model_id}: {message}"
    assert len(fake_server.requests) == 1


def test_unknown_model_on_a_real_server_says_so(fake_server):
    fake_server.models = ["served-model"]
    with pytest.raises(ModelError) as error:
        make(fake_server, "vllm/other-model").complete(USER)
    assert str(error.value) == (
        "vllm/other-model: HTTP 404: fake server: the model `other-model` does not exist"
        " (unknown model name or wrong base_url)"
    )


def test_bad_key_names_the_variable(fake_server, monkeypatch):
    fake_server.api_key = "right"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "wrong")
    with pytest.raises(ModelError, match=r"HTTP 401: fake server: invalid API key \(check ANTHROPIC_API_KEY\)$"):
        make(fake_server, "anthropic/fake-model").complete(USER)
    assert len(fake_server.requests) == 1


def test_connection_refused_is_retried_then_reported(fake_server):
    url = fake_server.openai_url
    fake_server.stop()
    model = Model(ModelConfig(id="openai/fake-model", base_url=url, retries=FAST))
    with pytest.raises(ModelError, match=f"gave up after retries: openai/fake-model: cannot reach {url}"):
        model.complete(USER)


def test_unknown_provider_lists_known_ones_and_the_base_url_form():
    with pytest.raises(ValueError) as raised:
        Model(ModelConfig(id="nowhere/pro"))
    message = str(raised.value)
    assert "'nowhere/pro'" in message and "`--model openai/NAME --base-url URL`" in message
    assert "PROVIDER one of anthropic, azure, bedrock, deepseek, fireworks, gemini, groq, local, openai, openrouter, "\
           "together, vertex, vllm " in message


def test_cost_for_a_priced_model(fake_server):
    fake_server.replies.extend(["w " * 1000, "x"])
    fake_server.cached_tokens = 2
    model = make(fake_server, "anthropic/claude-sonnet-4-6")
    [first] = model.complete(USER)
    # 2 uncached input at $3, 2 cached at $0.30, 1000 output at $15 per million tokens
    assert first.usage.cost_usd == pytest.approx((2 * 3 + 2 * 0.30 + 1000 * 15) / 1e6)
    model.complete(USER)
    assert model.usage.cost_usd == pytest.approx((4 * 3 + 4 * 0.30 + 1001 * 15) / 1e6)


def test_dated_snapshot_finds_its_price(fake_server):
    fake_server.replies.append("x")
    [completion] = make(fake_server, "openai/gpt-5-mini-2025-08-07").complete(USER)
    assert completion.usage.cost_usd == pytest.approx((4 * 0.25 + 1 * 2.00) / 1e6)


def test_unknown_model_has_no_cost_but_tokens(fake_server):
    fake_server.replies.append("a b")
    model = make(fake_server, "vllm/Qwen/Qwen3-Coder-30B-A3B-Instruct")
    [completion] = model.complete(USER)
    assert completion.usage == Usage(input_tokens=4, output_tokens=2, requests=1, cost_usd=None)
    assert model.usage.cost_usd is None


def test_reasoning_model_gets_no_temperature_and_max_completion_tokens(fake_server):
    fake_server.replies.append("x")
    make(fake_server, "openai/gpt-5-mini").complete(USER, max_tokens=77)
    body = fake_server.requests[0].json
    assert body["max_completion_tokens"] == 77
    assert "temperature" not in body and "max_tokens" not in body


def test_other_model_gets_temperature_and_max_tokens(fake_server):
    fake_server.replies.append("x")
    make(fake_server, "openai/fake-model", temperature=0.7).complete(USER, max_tokens=77)
    body = fake_server.requests[0].json
    assert (body["temperature"], body["max_tokens"]) == (0.7, 77)
    assert "n" not in body


@pytest.mark.parametrize(
    "model_id, variable", [("openai/fake-model", "OPENAI_API_KEY"), ("anthropic/fake-model", "ANTHROPIC_API_KEY"),
                           ("vllm/fake-model", "VLLM_API_KEY")]
)
def test_key_from_environment_is_sent(fake_server, monkeypatch, model_id, variable):
    monkeypatch.setenv(variable, "sk-test-123")
    fake_server.replies.append("x")
    make(fake_server, model_id).complete(USER)
    assert fake_server.requests[0].api_key == "sk-test-123"


@pytest.mark.parametrize("model_id", BACKENDS)
def test_placeholder_key_with_base_url(fake_server, model_id):
    fake_server.replies.append("x")
    make(fake_server, model_id).complete(USER)
    assert fake_server.requests[0].api_key == PLACEHOLDER_KEY


def test_vllm_does_not_send_an_openai_key(fake_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai")
    fake_server.replies.append("x")
    make(fake_server, "vllm/fake-model").complete(USER)
    assert fake_server.requests[0].api_key == PLACEHOLDER_KEY


@pytest.mark.parametrize("model_id, variable", [("openai/gpt-5-mini", "OPENAI_API_KEY"),
                                                ("anthropic/claude-sonnet-4-5", "ANTHROPIC_API_KEY")])
def test_no_key_and_no_base_url_names_the_variable(model_id, variable):
    with pytest.raises(ModelError, match=f"^{model_id}: no API key: set the environment variable {variable}$"):
        Model(ModelConfig(id=model_id))


def test_vllm_needs_a_base_url():
    with pytest.raises(ModelError, match="needs a base_url"):
        Model(ModelConfig(id="vllm/fake-model"))


def test_thinking_setting_warns_once(fake_server, caplog):
    fake_server.replies.extend(["a", "b"])
    model = make(fake_server, "anthropic/thinking-warning-model")
    with caplog.at_level(logging.WARNING, logger="codescale.agent.models.notes"):
        model.complete(USER, thinking={"max_tokens": 100})
        model.complete(USER, thinking={"max_tokens": 100})
    warnings = [r.getMessage() for r in caplog.records if "thinking" in r.getMessage()]
    assert warnings == ["anthropic/thinking-warning-model: thinking.max_tokens=100 raised to budget_tokens=1024, the API minimum"]


def test_models_endpoint_lists_served_models(fake_server):
    import openai

    fake_server.models = ["served-model"]
    client = openai.OpenAI(api_key="x", base_url=fake_server.openai_url, max_retries=0)
    assert [m.id for m in client.models.list()] == ["served-model"]


def test_anthropic_temperature_only_where_the_row_allows_it(fake_server):
    fake_server.replies.extend(["x", "y"])
    make(fake_server, "anthropic/claude-sonnet-4-6", temperature=0.3).complete(USER)
    make(fake_server, "anthropic/claude-new-model", temperature=0.3).complete(USER)
    assert fake_server.requests[0].json["temperature"] == 0.3
    assert "temperature" not in fake_server.requests[1].json


def test_retry_after_header_forms():
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_server_that_ignores_n_is_asked_again():
    class IgnoresN(FakeServer):
        def openai_chat(self, body: dict) -> dict:
            return super().openai_chat({**body, "n": 1})

    with IgnoresN(replies=["a", "b", "c"]) as server:
        model = make(server, "openai/fake-model")
        assert [c.text for c in model.complete(USER, n=3)] == ["a", "b", "c"]
        assert [r.json.get("n") for r in server.requests] == [3, 2, None]
        assert model.usage.requests == 3


@pytest.mark.parametrize(("model_id", "field", "cap"), [
    ("openai/gpt-5-mini", "max_completion_tokens", 16384),  # a reasoning model: room for its reasoning
    ("anthropic/claude-sonnet-4-5", "max_tokens", 4096),
    ("openai/fake-model", "max_tokens", 4096),  # no row
])
def test_a_replys_cap_comes_from_the_model_row_unless_configured(fake_server, model_id, field, cap):
    fake_server.replies.extend(["x", "y"])
    make(fake_server, model_id).complete(USER)
    make(fake_server, model_id, max_tokens=1000).complete(USER)
    assert [r.json[field] for r in fake_server.requests] == [cap, 1000]


def test_a_user_row_sets_the_reply_cap(fake_server, tmp_path, monkeypatch):
    catalog = tmp_path / "models.yaml"
    catalog.write_text("models:\n  openai/deep-thinker: {reply_tokens: 32000, max_tokens_field: max_completion_tokens}\n")
    monkeypatch.setenv("CODESCALE_MODELS", str(catalog))
    fake_server.replies.append("x")
    make(fake_server, "openai/deep-thinker").complete(USER)
    assert fake_server.requests[0].json["max_completion_tokens"] == 32000
