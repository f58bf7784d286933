"""Budget forcing: s1's two-phase procedure against a fake vLLM thinking model that applies a chat template as the
real server does (each request's rendered prompt is asserted), models that do not think, the native cap, the
Anthropic and OpenAI translations (checked in the request bodies), and a full agent rollout under a thinking cap."""

from __future__ import annotations

import pytest
from chat_templates import CHATML, OPENS_THINKING, QWEN3, render
from conftest import CALC_FILES, make_repo
from fake_server import FakeServer, Reply
from thinking_server import ANSWERS, ThinkingServer

from codescale.agent.loop import AgentConfig
from codescale.agent.models.base import Model, ModelConfig, RetryConfig
from codescale.agent.models.thinking import ThinkingConfig
from codescale.agent.records import Task
from codescale.agent.rollout import RolloutConfig, run_rollout

FAST = RetryConfig(attempts=2, min_wait=0.01, max_wait=0.05)
USER = [{"role": "user", "content": "fix the bug please"}]


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "VLLM_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)


def make(server: FakeServer, model_id: str = "vllm/fake-thinker") -> Model:
    base_url = server.url if model_id.startswith("anthropic/") else server.openai_url
    return Model(ModelConfig(id=model_id, base_url=base_url, timeout=5, retries=FAST))


def chat_bodies(server: FakeServer) -> list[dict]:
    return [r.json for r in server.requests if r.path.endswith("/chat/completions")]


def raw_bodies(server: FakeServer) -> list[dict]:
    return [r.json for r in server.requests if r.path == "/v1/completions"]


GENERATION_PROMPT = "<|im_start|>user\nfix the bug please<|im_end|>\n<|im_start|>assistant\n"
"""USER rendered by each test template with its generation prompt (OPENS_THINKING adds `<think>\\n`)."""


def thoughts(first: int, last: int) -> str:
    return " ".join(f"t{i}" for i in range(first, last + 1))


# --- vLLM: the two-phase procedure ----------------------------------------------------------------


def test_a_model_that_stops_early_is_extended_exactly_max_extensions_times():
    with ThinkingServer(answer="Done.", thinks=[3]) as server:
        thinking = ThinkingConfig(min_tokens=100, max_tokens=1000, max_extensions=2)
        [c] = make(server).complete(USER, max_tokens=200, thinking=thinking)
    assert c.thinking == f"{thoughts(1, 3)} Wait {thoughts(4, 6)} Wait {thoughts(7, 9)}"
    assert (c.text, c.extensions, c.capped, c.finish_reason) == ("Done.", 2, False, "stop")
    # each thinking request generated 3 thoughts and the close tag it stopped at; the answer 1 token
    assert (c.usage.thinking_tokens, c.usage.output_tokens, c.usage.requests) == (12, 13, 4)
    bodies = raw_bodies(server)
    assert [b["max_tokens"] for b in bodies] == [1000, 996, 992, 200]
    assert [b["stop"] for b in bodies] == [["</think>"]] * 3 + [[]]
    assert all(not b["skip_special_tokens"] and not b["add_special_tokens"] for b in bodies)
    assert server.prompts == [b["prompt"] for b in bodies]
    assert server.prompts[0] == GENERATION_PROMPT + "<think>\n"
    assert server.prompts[1] == GENERATION_PROMPT + f"<think>\n {thoughts(1, 3)} Wait"
    assert server.prompts[3] == GENERATION_PROMPT + f"<think>\n {c.thinking}\n</think>\n\n"
    # the conversation was rendered once, by the server's template, with its generation prompt
    [render_request] = [r.json for r in server.requests if r.path == "/tokenize"]
    assert render_request["messages"] == USER and render_request["add_generation_prompt"]


def test_an_early_close_after_the_minimum_is_not_extended():
    with ThinkingServer(answer="Done.", thinks=[5]) as server:
        [c] = make(server).complete(USER, thinking=ThinkingConfig(min_tokens=6, max_tokens=100, max_extensions=3))
    assert (c.thinking, c.extensions, c.capped, c.usage.thinking_tokens) == (thoughts(1, 5), 0, False, 6)


def test_without_extensions_an_early_close_stands():
    with ThinkingServer(answer="Done.", thinks=[2]) as server:
        [c] = make(server).complete(USER, thinking=ThinkingConfig(min_tokens=50, max_tokens=100, max_extensions=0))
    assert (c.thinking, c.extensions, c.usage.thinking_tokens, c.usage.requests) == (thoughts(1, 2), 0, 3, 2)


def test_a_model_that_never_stops_is_cut_at_exactly_max_tokens_then_answers():
    with ThinkingServer(answer="The fix is one line.", thinks=[None]) as server:
        [c] = make(server).complete(USER, thinking=ThinkingConfig(max_tokens=50))
    assert (c.thinking, c.text) == (thoughts(1, 50), "The fix is one line.")
    assert (c.usage.thinking_tokens, c.capped, c.extensions, c.usage.requests) == (50, True, 0, 2)
    assert raw_bodies(server)[0]["max_tokens"] == 50
    assert server.prompts[1] == GENERATION_PROMPT + f"<think>\n {thoughts(1, 50)}\n</think>\n\n"


def test_an_extension_that_runs_into_the_cap_is_cut_at_exactly_the_cap():
    with ThinkingServer(answer="ok", thinks=[3, None]) as server:
        [c] = make(server).complete(USER, thinking=ThinkingConfig(min_tokens=10, max_tokens=20, max_extensions=5))
    assert c.thinking == f"{thoughts(1, 3)} Wait {thoughts(4, 19)}"
    assert (c.usage.thinking_tokens, c.extensions, c.capped) == (20, 1, True)


def test_a_model_that_ends_its_turn_right_after_an_extension_has_answered():
    reply = "Found it.\n```bash\nsed -i s/-/+/ calc.py\n```"
    with ThinkingServer(answer=reply, thinks=[3, ANSWERS]) as server:
        model = make(server)
        [c] = model.complete(USER, stop=["STOP"], thinking=ThinkingConfig(min_tokens=50, max_tokens=100))
    assert (c.thinking, c.text) == (f"{thoughts(1, 3)} Wait", reply)
    assert (c.extensions, c.capped, c.finish_reason) == (1, False, "stop")
    # the first request's 3 thoughts and its close tag were thinking; the second request's tokens are the answer
    assert (c.usage.thinking_tokens, c.usage.output_tokens, c.usage.requests) == (4, 4 + 8, 2)
    assert len(raw_bodies(server)) == 2 and model.notes == []
    assert model.policy.thinks  # it thinks: the next call is forced again


def test_a_zero_cap_answers_without_thinking():
    with ThinkingServer(answer="ok", thinks=[None]) as server:
        [c] = make(server).complete(USER, thinking=ThinkingConfig(max_tokens=0))
    assert (c.thinking, c.text, c.usage.thinking_tokens, c.capped, c.usage.requests) == ("", "ok", 0, True, 1)


def test_per_model_delimiters_and_n_samples():
    with ThinkingServer(answer="ok", thinks=[None], open_tag="<seed:think>", close_tag="</seed:think>") as server:
        thinking = ThinkingConfig(max_tokens=4, think_open="<seed:think>", think_close="</seed:think>")
        completions = make(server).complete(USER, n=2, thinking=thinking)
    assert [(c.thinking, c.text, c.usage.thinking_tokens) for c in completions] == [(thoughts(1, 4), "ok", 4)] * 2
    assert raw_bodies(server)[0]["stop"] == ["</seed:think>"]


def test_native_cap_is_one_request_counted_by_the_servers_tokenizer():
    with ThinkingServer(answer="ok", thinks=[None], native=True) as server:
        [c] = make(server).complete(USER, thinking=ThinkingConfig(max_tokens=30, strategy="native"))
    assert (c.thinking, c.text, c.usage.thinking_tokens, c.capped) == (thoughts(1, 30), "ok", 30, True)
    [body] = chat_bodies(server)
    assert body["thinking_token_budget"] == 30 and "continue_final_message" not in body
    assert [r.path for r in server.requests] == ["/v1/chat/completions", "/tokenize"]


def test_a_server_without_continuation_is_driven_through_raw_completions_with_the_rows_template():
    with ThinkingServer(answer="ok", thinks=[2, None], llama=True) as server:
        thinking = ThinkingConfig(min_tokens=5, max_tokens=12, max_extensions=1)
        [c] = make(server, "openai/qwen2.5-coder-0.5b").complete(USER, stop=["END"], thinking=thinking)
    assert (c.thinking, c.text) == (f"{thoughts(1, 2)} Wait {thoughts(3, 11)}", "ok")
    assert (c.usage.thinking_tokens, c.extensions, c.capped, c.usage.requests) == (12, 1, True, 3)
    bodies = raw_bodies(server)
    assert len(bodies) == 3 and server.prompts == [b["prompt"] for b in bodies]
    assert server.prompts[0] == render(CHATML, USER, add_generation_prompt=True) + "<think>\n"
    turn_ends = ["<|im_end|>", "<|im_start|>"]
    assert [b["stop"] for b in bodies] == [["</think>", *turn_ends]] * 2 + [["END", *turn_ends]]
    assert [b["max_tokens"] for b in bodies] == [12, 9, 4096]


# --- the prompt the model sees: its chat template's generation prompt, then the prefill ----------------------


def test_a_qwen3_style_template_sees_one_open_tag_and_no_empty_thinking_block():
    # why: rendering the prefill as a final assistant message gives Qwen3 its "thinking off" signal first
    continued = render(QWEN3, [*USER, {"role": "assistant", "content": "<think>\n"}], add_generation_prompt=False)
    assert "<think>\n\n</think>\n\n<think>\n" in continued
    with ThinkingServer(answer="Done.", thinks=[3, 2, None], template=QWEN3) as server:
        thinking = ThinkingConfig(min_tokens=8, max_tokens=10, max_extensions=2)
        [c] = make(server, "vllm/Qwen/Qwen3-8B").complete(USER, thinking=thinking)
    assert (c.thinking, c.text) == (f"{thoughts(1, 3)} Wait {thoughts(4, 5)} Wait {thoughts(6, 8)}", "Done.")
    assert (c.usage.thinking_tokens, c.extensions, c.capped, c.usage.requests) == (10, 2, True, 4)
    assert len(server.prompts) == 4
    for prompt in server.prompts:
        assert prompt.startswith(GENERATION_PROMPT + "<think>\n")
        assert prompt.count("<think>") == 1 and "<think>\n\n</think>" not in prompt
    assert server.prompts[-1] == GENERATION_PROMPT + f"<think>\n {c.thinking}\n</think>\n\n"


def test_a_template_that_opens_thinking_itself_gets_no_second_open_tag():
    with ThinkingServer(answer="Done.", thinks=[2, None], template=OPENS_THINKING) as server:
        thinking = ThinkingConfig(min_tokens=5, max_tokens=6, max_extensions=1)
        [c] = make(server).complete(USER, thinking=thinking)
    assert c.thinking == f"{thoughts(1, 2)} Wait {thoughts(3, 5)}"
    assert (c.text, c.usage.thinking_tokens, c.extensions, c.capped) == ("Done.", 6, 1, True)
    opened = GENERATION_PROMPT + "<think>\n"
    assert server.prompts == [opened, opened + f" {thoughts(1, 2)} Wait", opened + f" {c.thinking}\n</think>\n\n"]
    assert all(p.count("<think>") == 1 for p in server.prompts)


def test_chat_template_kwargs_go_to_the_rendering_not_to_the_raw_request():
    with ThinkingServer(answer="ok", thinks=[None], template=QWEN3) as server:
        config = ModelConfig(
            id="vllm/fake-thinker", base_url=server.openai_url, timeout=5, retries=FAST,
            extra_body={"chat_template_kwargs": {"enable_thinking": True}, "top_k": 5},
        )
        Model(config).complete(USER, thinking=ThinkingConfig(max_tokens=3))
    [render_request] = [r.json for r in server.requests if r.path == "/tokenize"]
    assert render_request["chat_template_kwargs"] == {"enable_thinking": True}
    assert all("chat_template_kwargs" not in b and b["top_k"] == 5 for b in raw_bodies(server))
    assert server.prompts[0] == GENERATION_PROMPT + "<think>\n"


# --- models that do not think ---------------------------------------------------------------------------------


@pytest.mark.parametrize("thinking", [ThinkingConfig(max_tokens=500), ThinkingConfig(min_tokens=100, max_tokens=500)])
def test_a_model_that_ends_its_turn_while_thinking_gives_its_reply_as_the_answer(thinking):
    with ThinkingServer(answer="No thinking here.\nEND more", thinker=False, template=CHATML) as server:
        model = make(server, "vllm/plain-chat")
        [first] = model.complete(USER, stop=["END"], thinking=thinking)
        [second] = model.complete(USER, stop=["END"], thinking=thinking)
    assert (first.text, first.thinking, first.extensions, first.capped) == ("No thinking here.\n", "", 0, False)
    assert (first.usage.requests, first.usage.thinking_tokens) == (1, 0)
    # known now: the next call is a plain reply, still one request
    assert (second.text, second.usage.requests) == ("No thinking here.\n", 1)
    assert server.prompts == [GENERATION_PROMPT + "<think>\n", GENERATION_PROMPT]
    assert len(model.notes) == 1 and model.notes[0].startswith("vllm/plain-chat: this model does not think")


def test_on_llama_cpp_an_end_of_turn_is_told_from_a_close_by_the_token_counts():
    with ThinkingServer(answer="Plain answer.", thinker=False, llama=True) as server:
        model = make(server, "openai/qwen2.5-coder-0.5b")
        [c] = model.complete(USER, thinking=ThinkingConfig(min_tokens=50, max_tokens=100))
    assert (c.text, c.thinking, c.extensions, c.usage.requests) == ("Plain answer.", "", 0, 1)
    assert len(raw_bodies(server)) == 1 and "this model does not think" in model.notes[0]


def test_a_row_that_says_thinks_false_is_not_forced():
    with ThinkingServer(answer="ok", thinker=False, llama=True) as server:
        model = make(server, "openai/smollm2-135m")
        [c] = model.complete(USER, thinking=ThinkingConfig(min_tokens=50, max_tokens=100))
    assert (c.text, c.usage.requests) == ("ok", 1)
    assert [r.path for r in server.requests] == ["/v1/chat/completions"]
    assert model.notes == [
        "openai/smollm2-135m: this model does not think (`thinks: false` in configs/models.yaml); the thinking "
        "setting is not applied"
    ]


def test_an_agent_on_a_model_that_does_not_think_parses_every_command(tmp_path):
    thinking = ThinkingConfig(min_tokens=200, max_tokens=400)
    with ThinkingServer(answer=agent_reply, thinker=False, template=CHATML) as server:
        traj = rollout(calc_task(tmp_path), "vllm/plain-chat", server, thinking, tmp_path)
    assert traj.exit_status == "submitted"
    assert [s.action for s in traj.steps] == [FIX, "echo CODESCALE_SUBMIT"]
    assert [(s.usage.requests, s.thinking, s.extensions) for s in traj.steps] == [(1, "", 0)] * 2
    assert len(server.prompts) == 2 and "+    return a + b" in traj.patch
    assert len(traj.notes) == 1 and traj.notes[0].startswith("vllm/plain-chat: this model does not think")


# --- Anthropic and OpenAI: the setting translated -----------------------------------------------------


def test_anthropic_gets_budget_tokens_and_says_what_it_cannot_do(fake_server):
    fake_server.replies.append(Reply("answer", thinking=" ".join(["x"] * 2000)))
    model = make(fake_server, "anthropic/claude-sonnet-4-6")
    [c] = model.complete(USER, max_tokens=500, temperature=0.2, thinking=ThinkingConfig(min_tokens=100, max_tokens=2000))
    body = fake_server.requests[0].json
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    assert body["max_tokens"] == 2500 and "temperature" not in body
    assert (c.usage.thinking_tokens, c.capped) == (2000, True)
    assert model.notes == [
        "anthropic/claude-sonnet-4-6: a thinking minimum is not supported by extended thinking; ignored",
        "anthropic/claude-sonnet-4-6: temperature 0.2 is not sent: extended thinking takes none",
    ]


@pytest.mark.parametrize("details", [True, False])
def test_anthropic_thinking_tokens_and_the_cap_from_what_the_server_reports(details):
    with FakeServer(thinking_details=details) as server:
        # 1200 thinking words and a 2-word answer of 8 characters (2 estimated tokens); then a reply cut by
        # max_tokens while thinking (no answer yet); then 10 thinking words under the cap
        server.replies.extend([Reply("abc defg", thinking="x " * 1200), Reply("", thinking="y " * 900, finish="length"),
                               Reply("done", thinking="z " * 10)])
        model = make(server, "anthropic/claude-sonnet-4-6")
        thinking = ThinkingConfig(max_tokens=1024)
        over, cut, under = (model.complete(USER, thinking=thinking)[0] for _ in range(3))
    assert (over.usage.output_tokens, over.usage.thinking_tokens, over.capped) == (1202, 1200, True)
    assert (cut.usage.thinking_tokens, cut.capped, cut.finish_reason) == (900, True, "length")
    assert (under.usage.thinking_tokens, under.capped) == (10, False)
    estimated = [n for n in model.notes if "reports no thinking token count" in n]
    assert len(estimated) == (0 if details else 1)


def test_anthropic_budget_below_the_api_minimum_is_raised(fake_server):
    fake_server.replies.append("answer")
    model = make(fake_server, "anthropic/claude-sonnet-4-6")
    model.complete(USER, temperature=1.0, thinking=ThinkingConfig(max_tokens=300))
    assert fake_server.requests[0].json["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert model.notes == [
        "anthropic/claude-sonnet-4-6: thinking.max_tokens=300 raised to budget_tokens=1024, the API minimum"
    ]


@pytest.mark.parametrize(
    ("model_id", "max_tokens", "effort"),
    [
        ("openai/gpt-5-mini", 3000, "low"),
        ("openai/gpt-5.1", 500, "low"),  # minimal is not accepted: the next one up
        ("openai/o3", None, "high"),  # no cap: xhigh is not accepted: the highest below
        ("openai/gpt-5", 0, "minimal"),  # none is not accepted
    ],
)
def test_openai_reasoning_models_get_the_mapped_effort(fake_server, model_id, max_tokens, effort):
    fake_server.replies.append("answer")
    make(fake_server, model_id).complete(USER, thinking=ThinkingConfig(max_tokens=max_tokens))
    assert fake_server.requests[0].json["reasoning_effort"] == effort


def test_a_model_without_thinking_control_says_so_once(fake_server, caplog):
    fake_server.replies.extend(["a", "b"])
    model = make(fake_server, "openai/gpt-4.1")
    for _ in range(2):
        model.complete(USER, thinking=ThinkingConfig(max_tokens=100))
    assert "reasoning_effort" not in fake_server.requests[0].json
    assert len(model.notes) == 1 and "cannot control this model's thinking" in model.notes[0]
    assert caplog.text.count("cannot control this model's thinking") <= 1


# --- the agent under a thinking cap -------------------------------------------------------------------


FIX = "sed -i 's/return a - b/return a + b/' calc/ops.py"


def agent_reply(messages: list[dict]) -> str:
    step = sum(1 for m in messages if m["role"] == "assistant")
    command = [FIX, "echo CODESCALE_SUBMIT"][min(step, 1)]
    return f"I will run one command.\n\n```bash\n{command}\n```"


def calc_task(tmp_path) -> Task:
    repo, commit = make_repo(tmp_path / "calc", CALC_FILES)
    return Task(instance_id="calc-1", problem_statement="add() subtracts", repo_dir=str(repo), base_commit=commit)


def rollout(task: Task, model_id: str, server: FakeServer, thinking: ThinkingConfig, tmp_path):
    config = RolloutConfig(
        model=ModelConfig(id=model_id, base_url=server.openai_url, timeout=5, retries=FAST),
        sandbox={"kind": "local", "timeout": 10},
        agent=AgentConfig(thinking=thinking),
    )
    return run_rollout(task, config, run_id="test-thinking", rollout_id="r0", task_dir=tmp_path / "out")


def test_an_agent_capped_at_every_step_still_gets_its_commands(tmp_path):
    with ThinkingServer(answer=agent_reply, thinks=[None]) as server:
        traj = rollout(calc_task(tmp_path), "vllm/fake-thinker", server, ThinkingConfig(max_tokens=25), tmp_path)
    assert traj.exit_status == "submitted"
    assert [s.action for s in traj.steps] == [FIX, "echo CODESCALE_SUBMIT"]
    assert "+    return a + b" in traj.patch
    assert [(s.usage.thinking_tokens, s.capped, s.extensions) for s in traj.steps] == [(25, True, 0)] * 2
    assert [s.thinking for s in traj.steps] == [thoughts(1, 25)] * 2
    assert traj.usage.thinking_tokens == 50 and traj.notes == []
    # the model sees its earlier answers without their thinking, and one open tag: its own prefill
    step_two = server.prompts[2]
    assert f"<|im_start|>assistant\nI will run one command.\n\n```bash\n{FIX}\n```<|im_end|>\n" in step_two
    assert step_two.count("<think>") == 1 and step_two.endswith("<|im_start|>assistant\n<think>\n")


def test_a_rollout_records_what_the_backend_could_not_honour(tmp_path, fake_server):
    fake_server.responder = lambda body: agent_reply(body["messages"])
    traj = rollout(calc_task(tmp_path), "openai/fake-model", fake_server, ThinkingConfig(max_tokens=25), tmp_path)
    assert traj.exit_status == "submitted"
    assert len(traj.notes) == 1 and traj.notes[0].startswith("openai/fake-model: the openai backend cannot control")


# --- a real model on CPU -------------------------------------------------------------------------------


@pytest.mark.slow
def test_budget_forcing_on_a_real_small_model_counts_its_real_tokens():
    """llama.cpp's server cannot continue an assistant message, so the procedure goes through its raw
    completions endpoint with the row's chat template; every count below is the server's. llama.cpp names no stop
    reason: an end of turn is told from a close by its token counts."""
    pytest.importorskip("llama_cpp", reason="needs the local extra: pip install -e '.[local]'")
    from codescale.agent.models.local.server import LocalServer

    explain = [{"role": "user", "content": "Explain step by step how merge sort works, with an example."}]
    one_word = [{"role": "user", "content": "Is 7 a prime number? Reply with one word."}]
    with LocalServer("qwen2.5-coder-0.5b") as server:
        model = Model(ModelConfig(id="local/qwen2.5-coder-0.5b", base_url=server.base_url, max_tokens=24, timeout=120))
        [capped] = model.complete(explain, thinking=ThinkingConfig(max_tokens=16))
        [extended] = model.complete(one_word, thinking=ThinkingConfig(min_tokens=200, max_tokens=60, max_extensions=2))
        tokens_of_thinking = tokenize(server.base_url, capped.thinking)
    # a long explanation is cut at exactly 16 of the server's tokens, then the model answers
    assert (capped.usage.thinking_tokens, capped.capped, capped.usage.requests) == (16, True, 2)
    assert capped.text.strip()
    assert abs(tokens_of_thinking - 16) <= 1  # real tokens (re-tokenizing text may merge one at the edge), not words
    assert len(capped.thinking.split()) != 16
    # a one-word answer closes its thinking early (the model writes the close tag itself: llama.cpp names no stop
    # reason, the tag is told from an end of turn by the token counts): extended with "Wait", after which this model
    # ends its turn without closing its thinking again: what it wrote after "Wait" is its answer, no third request
    assert (extended.extensions, extended.capped, extended.usage.requests) == (1, False, 2)
    assert extended.thinking.endswith("Wait") and extended.thinking.count("Wait") == 1
    assert 0 < extended.usage.thinking_tokens < extended.usage.output_tokens < 60
    assert extended.text.strip() and model.notes == []


def tokenize(base_url: str, text: str) -> int:
    """Tokens of `text` by llama-cpp-python's server (`POST /extras/tokenize`)."""
    import json
    import urllib.request

    root = base_url.removesuffix("/v1")
    request = urllib.request.Request(
        f"{root}/extras/tokenize", data=json.dumps({"input": text}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return len(json.loads(reply.read())["tokens"])
