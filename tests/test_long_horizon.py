"""Rollouts that outgrow the model's context window, against a fake server that enforces a window of 6,000 tokens
(its tokens are words) and refuses a longer request in vLLM's words: condensed and going on, or stopped with
context_limit and the patch kept; never model_error."""

from __future__ import annotations

import pytest
from conftest import CALC_FILES, make_repo
from fake_server import FakeServer, words
from long_rollout import LONG_OUTPUT, SUBMIT, LongRollout
from thinking_server import ThinkingServer

from codescale.agent.condense import CondenseConfig
from codescale.agent.loop import AgentConfig
from codescale.agent.models.base import ModelConfig, RetryConfig
from codescale.agent.records import Task, Trajectory
from codescale.agent.rollout import RolloutConfig, run_rollout
from codescale.eval.runs.config import load_config

FIX = "sed -i 's/return a - b/return a + b/' calc/ops.py"
WINDOW = 6000
REPLY_CAP = 200
CHAT = "/v1/chat/completions"


@pytest.fixture
def local_task(tmp_path) -> Task:
    repo, commit = make_repo(tmp_path / "calc", CALC_FILES)
    return Task(instance_id="calc-1", problem_statement="add() subtracts", repo_dir=str(repo), base_commit=commit)


@pytest.fixture
def docker_task(repo_image) -> Task:
    image, commit = repo_image(CALC_FILES)
    return Task(instance_id="calc-1", problem_statement="add() subtracts", image=image, base_commit=commit)


def rollout(task: Task, server: FakeServer, tmp_path, *, model: dict | None = None, **agent) -> Trajectory:
    config = RolloutConfig(
        model=ModelConfig(id="openai/fake-model", base_url=server.openai_url, max_tokens=REPLY_CAP, timeout=5,
                          retries=RetryConfig(min_wait=0.01, max_wait=0.05), **(model or {})),
        sandbox={"kind": "local" if task.repo_dir else "docker", "timeout": 10},
        agent=AgentConfig(**agent),
    )
    return run_rollout(task, config, run_id="test-long", rollout_id="r0", task_dir=tmp_path / "out")


def chat_requests(server: FakeServer) -> list[dict]:
    return [r.json for r in server.requests if r.path == CHAT]


def length(body: dict) -> int:
    """A chat request's tokens as the fake server counts them, with its reply cap."""
    return sum(words(m["content"]) for m in body["messages"]) + body["max_tokens"]


def refused(server: FakeServer, script: LongRollout) -> int:
    """Chat requests the server refused (every other one reached the script)."""
    return len(chat_requests(server)) - script.answered - len(script.condensed)


@pytest.mark.slow
def test_a_60_step_rollout_condenses_and_submits_within_the_window(docker_task, tmp_path):
    script = LongRollout([LONG_OUTPUT] * 58 + [FIX])
    with FakeServer(responder=script, window=WINDOW) as server:
        traj = rollout(docker_task, server, tmp_path)
    assert traj.exit_status == "submitted", traj.error
    assert len(traj.steps) == 60 and traj.steps[-1].action == SUBMIT
    assert "+    return a + b" in traj.patch
    assert max(length(body) for body in chat_requests(server)) <= WINDOW  # no request passed the window
    assert refused(server, script) == 0
    condensed = traj.condensations
    assert len(condensed) >= 5
    assert [(c.first_step, c.last_step) for c in condensed] == script.condensed
    assert condensed[0].first_step == 0
    assert all(b.first_step == a.last_step + 1 for a, b in zip(condensed, condensed[1:]))  # every step, once
    assert all(c.reason == "threshold" and c.window == WINDOW and not c.fallback for c in condensed)
    assert all(c.tokens_after < c.tokens_before for c in condensed)
    assert all(c.tokens_before + REPLY_CAP > 0.8 * WINDOW for c in condensed)
    assert all(c.at_step == c.last_step + 1 + 4 for c in condensed)  # the latest 4 steps stayed verbatim
    assert f"Steps {condensed[-1].first_step} to {condensed[-1].last_step}" in condensed[-1].summary
    last = chat_requests(server)[-1]["messages"]
    assert last[2]["content"] == condensed[-1].message
    assert [m["content"] for m in last[3:]] == [
        text for s in traj.steps[condensed[-1].last_step + 1:-1] for text in (s.response, s.observation)]
    assert Trajectory.load(tmp_path / "out" / "r0.traj.json").condensations == condensed
    assert traj.usage.requests == 60 + len(condensed)  # the condensing calls count in the rollout's usage


@pytest.mark.slow
def test_stop_ends_with_context_limit_and_keeps_the_patch(docker_task, tmp_path):
    script = LongRollout([FIX] + [LONG_OUTPUT] * 58)
    with FakeServer(responder=script, window=WINDOW) as server:
        traj = rollout(docker_task, server, tmp_path, context="stop")
    assert traj.exit_status == "context_limit"
    assert "more than the model's window of 6000" in traj.error
    assert "+    return a + b" in traj.patch
    assert traj.condensations == []
    assert refused(server, script) == 0
    bodies = chat_requests(server)
    assert max(length(body) for body in bodies) <= WINDOW
    grown = length(bodies[-1]) + 400 + 10  # the request the loop did not send: one more long step
    assert grown > WINDOW
    assert Trajectory.load(tmp_path / "out" / "r0.traj.json").exit_status == "context_limit"


def test_a_refused_request_is_condensed_and_sent_again(local_task, tmp_path):
    """The config claims a larger window than the server's: the server's refusal is recognised, its window learnt."""
    script = LongRollout([LONG_OUTPUT] * 30 + [FIX])
    with FakeServer(responder=script, window=WINDOW) as server:
        traj = rollout(local_task, server, tmp_path, model={"context_window": 100_000})
    assert traj.exit_status == "submitted", traj.error
    assert refused(server, script) == 1  # refused once, never retried as an outage
    first, *rest = traj.condensations
    assert (first.reason, first.window) == ("refusal", WINDOW)
    assert first.tokens_before + REPLY_CAP > WINDOW
    assert rest and all(c.reason == "threshold" and c.window == WINDOW for c in rest)


def test_a_refused_request_under_stop_ends_with_context_limit(local_task, tmp_path):
    script = LongRollout([FIX] + [LONG_OUTPUT] * 20)
    with FakeServer(responder=script, window=WINDOW) as server:
        traj = rollout(local_task, server, tmp_path, context="stop", model={"context_window": 100_000})
    assert traj.exit_status == "context_limit"
    assert "maximum context length is 6000" in traj.error
    assert refused(server, script) == 1
    assert "+    return a + b" in traj.patch


def test_a_failed_condensation_falls_back_to_the_steps_and_goes_on(local_task, tmp_path):
    script = LongRollout([LONG_OUTPUT] * 20 + [FIX], condenser_reply="I cannot summarize this.")
    with FakeServer(responder=script, window=WINDOW) as server:
        traj = rollout(local_task, server, tmp_path)
    assert traj.exit_status == "submitted"
    first = traj.condensations[0]
    assert first.fallback and first.error == "the condensing reply had no sections"
    assert f"Steps 0 to {first.last_step}:" in first.summary
    assert f"- step {first.last_step}: `seq 1000 1399` (exit 0)" in first.summary
    assert first.usage.requests == 1


def test_another_model_can_condense(local_task, tmp_path):
    script = LongRollout([LONG_OUTPUT] * 14 + [FIX])
    with FakeServer(responder=script, window=WINDOW) as agent_server, FakeServer(responder=script) as condensing:
        other = ModelConfig(id="openai/condenser", base_url=condensing.openai_url)
        traj = rollout(local_task, agent_server, tmp_path, condense=CondenseConfig(model=other))
    assert traj.exit_status == "submitted"
    assert traj.condensations and len(chat_requests(condensing)) == len(traj.condensations)
    assert all(body["model"] == "condenser" for body in chat_requests(condensing))
    assert len(chat_requests(agent_server)) == len(traj.steps)


def test_the_summarizer_model_condenses_unless_told_otherwise():
    summarizer = "scaling.summarizer.model={id: anthropic/claude-haiku-4-5}"
    assert load_config([summarizer]).agent.condense.model.id == "anthropic/claude-haiku-4-5"
    assert load_config().agent.condense.model is None  # the agent's own
    own = "agent.condense.model={id: openai/gpt-5-nano}"
    assert load_config([summarizer, own]).agent.condense.model.id == "openai/gpt-5-nano"


def test_vllm_counts_each_long_request_with_its_tokenizer(local_task, tmp_path):
    script = LongRollout(["seq 1000 1199"] * 14 + [FIX])
    with ThinkingServer(answer=lambda messages: script({"messages": messages}), thinker=False, models=["fake"]) as server:
        config = RolloutConfig(
            model=ModelConfig(id="vllm/fake", base_url=server.openai_url, max_tokens=REPLY_CAP, context_window=3000),
            sandbox={"kind": "local"}, agent=AgentConfig(),
        )
        traj = run_rollout(local_task, config, run_id="test-long", rollout_id="r0", task_dir=tmp_path / "out")
        counts = [server.tokenize(r.json)["count"] for r in server.requests if r.path == "/tokenize"]
    assert traj.exit_status == "submitted" and traj.condensations
    assert all(c.tokens_before in counts and c.tokens_after in counts for c in traj.condensations)
    assert all(c.tokens_before + REPLY_CAP > 0.8 * 3000 >= c.tokens_after + REPLY_CAP for c in traj.condensations)


def test_a_refusal_that_names_no_window_teaches_an_upper_bound(local_task, tmp_path):
    script = LongRollout([LONG_OUTPUT] * 30 + [FIX])
    with FakeServer(responder=script, window=WINDOW, window_error="openai-unnamed") as server:
        traj = rollout(local_task, server, tmp_path, model={"context_window": 100_000})
    assert traj.exit_status == "submitted", traj.error
    assert refused(server, script) == 1
    first = traj.condensations[0]
    assert first.reason == "refusal" and WINDOW < first.window < WINDOW + 1000  # the refused request's length
