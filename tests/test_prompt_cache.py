"""Prompt caching: Anthropic requests mark the stable prefix (checked in the request bodies the fake server
recorded), the fake server answers them from Anthropic's cache as the real API does (tests/prompt_cache.py), and
cached input is priced at the cached rate on every backend, through a whole run to its cost line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import CALC_FILES, make_repo
from fake_server import FakeServer

from codescale.agent.models.base import Model, ModelConfig, RetryConfig
from codescale.scaling.judge import Judge, JudgeConfig
from codescale.agent.records import Task
from codescale.scaling.records import Summary

FAST = RetryConfig(attempts=2, min_wait=0.01, max_wait=0.05)
SYSTEM = {"role": "system", "content": "You fix bugs."}
MARK = {"type": "ephemeral"}
SONNET = (3.00, 0.30, 3.75, 15.00)
"""claude-sonnet-4-5: USD per million input, cached input, cache write, output tokens."""


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)


def conversation(turns: int) -> list[dict]:
    """The system prompt, then `turns` user turns with an assistant turn between each two."""
    messages = [SYSTEM]
    for i in range(turns):
        if i:
            messages.append({"role": "assistant", "content": f"step {i} reply"})
        messages.append({"role": "user", "content": f"turn {i} text"})
    return messages


def anthropic(server: FakeServer, **config) -> Model:
    return Model(ModelConfig(id="anthropic/claude-sonnet-4-5", base_url=server.url, retries=FAST, **config))


def marks(body: dict) -> list[str]:
    """Where the request's cache breakpoints are: `system`, or `<role> <index in messages>`."""
    found = ["system"] if isinstance(body.get("system"), list) and body["system"][-1].get("cache_control") else []
    for i, m in enumerate(body["messages"]):
        if isinstance(m["content"], list) and m["content"][-1].get("cache_control") == MARK:
            found.append(f"{m['role']} {i}")
    return found


def test_an_agent_turn_marks_the_system_the_instance_and_the_last_two_turns(fake_server):
    fake_server.replies.extend(["a", "b"])
    model = anthropic(fake_server)
    model.complete(conversation(7), cache=True)
    model.complete(conversation(1), cache=True)
    long, first = (r.json for r in fake_server.requests)
    assert marks(long) == ["system", "user 0", "user 10", "user 12"]  # 4 breakpoints, Anthropic's limit
    assert long["system"] == [{"type": "text", "text": "You fix bugs.", "cache_control": MARK}]
    assert long["messages"][12]["content"] == [{"type": "text", "text": "turn 6 text", "cache_control": MARK}]
    assert all(isinstance(m["content"], str) for m in long["messages"] if m["role"] == "assistant")
    assert marks(first) == ["system", "user 0"]


def test_a_prompt_sent_once_marks_only_the_system_prompt(fake_server):
    fake_server.replies.append("summary")
    anthropic(fake_server).complete(conversation(1))  # a summarizer's call
    assert marks(fake_server.requests[0].json) == ["system"]


def test_prompt_cache_off_sends_no_marks(fake_server):
    fake_server.replies.append("a")
    anthropic(fake_server, prompt_cache=False).complete(conversation(3), cache=True)
    body = fake_server.requests[0].json
    assert body["system"] == "You fix bugs." and "cache_control" not in json.dumps(body)


def test_each_turn_reads_the_history_from_the_cache_and_pays_the_cached_rate(fake_server):
    fake_server.replies.extend(["r1 r2", "r3 r4", "r5 r6"])
    model = anthropic(fake_server)
    replies = [model.complete(conversation(turns), cache=True)[0] for turns in (1, 2, 3)]
    usages = [r.usage for r in replies]
    # words: system 3, each user turn 3, each assistant turn 3
    assert [(u.input_tokens, u.cached_input_tokens, u.cache_write_tokens) for u in usages] == [
        (6, 0, 6), (12, 6, 6), (18, 12, 6)]
    reported = [r.reply["usage"] for r in fake_server.requests]
    assert [u["input_tokens"] for u in reported] == [0, 0, 0]  # nothing at full price: all read or written
    for usage in usages:  # the cached rate for reads, the write rate for writes
        assert usage.cost_usd == pytest.approx((usage.cached_input_tokens * 0.30 + usage.cache_write_tokens * 3.75
                                                + usage.output_tokens * 15.00) / 1e6)


def test_repeated_judge_votes_read_their_prompt_from_the_cache(fake_server):
    fake_server.responder = lambda body: "ANSWER: 1"
    judge = Judge(JudgeConfig(batch_votes=True), ModelConfig(id="anthropic/claude-sonnet-4-5", base_url=fake_server.url,
                                                             retries=FAST))
    task = Task(instance_id="t-1", problem_statement="add() subtracts")
    summaries = {rid: Summary(task_id="t-1", rollout_id=rid, understanding=f"attempt {rid}") for rid in ("a", "b")}
    votes = judge.vote(task, summaries, {"a": "patch a", "b": "patch b"}, [["a", "b"]] * 3)
    assert [v.choice for v in votes] == ["a"] * 3
    reported = [r.reply["usage"] for r in fake_server.requests]
    assert [u["cache_creation_input_tokens"] > 0 for u in reported] == [True, False, False]
    assert reported[1]["cache_read_input_tokens"] == reported[0]["cache_creation_input_tokens"]


@pytest.mark.parametrize("field", ["prompt_tokens_details", "prompt_cache_hit_tokens"])
def test_cached_input_an_openai_compatible_server_reports_is_priced_as_cached(fake_server, field):
    if field == "prompt_cache_hit_tokens":  # DeepSeek's own field
        plain = fake_server.openai_chat

        def deepseek(body):
            reply = plain(body)
            cached = reply["usage"].pop("prompt_tokens_details")["cached_tokens"]
            reply["usage"] |= {"prompt_cache_hit_tokens": cached, "prompt_cache_miss_tokens": 4 - cached}
            return reply

        fake_server.routes[("POST", "/v1/chat/completions")] = deepseek
    fake_server.replies.append("x")
    fake_server.cached_tokens = 3
    model = Model(ModelConfig(id="openai/gpt-5-mini", base_url=fake_server.openai_url, retries=FAST))
    [reply] = model.complete([{"role": "user", "content": "fix the bug please"}])
    assert reply.usage.cached_input_tokens == 3
    assert reply.usage.cost_usd == pytest.approx((1 * 0.25 + 3 * 0.025 + 1 * 2.00) / 1e6)


def test_a_runs_cost_with_cached_tokens_matches_a_hand_computation(tmp_path):
    repo, commit = make_repo(tmp_path / "calc", CALC_FILES)
    task = tmp_path / "task.json"
    task.write_text(json.dumps({"instance_id": "calc-1", "problem_statement": "add() subtracts",
                                "repo_dir": str(repo), "base_commit": commit}))
    steps = ["Look.\n```bash\nls\n```", "Read.\n```bash\ncat calc/ops.py\n```",
             "Fix.\n```bash\nsed -i 's/a - b/a + b/' calc/ops.py\n```", "Done.\n```bash\necho CODESCALE_SUBMIT\n```"]
    with FakeServer(replies=steps) as server:
        done = subprocess.run(
            [sys.executable, "-m", "codescale.eval.cli", "run", "--task", str(task), "--sandbox", "local",
             "--model", "anthropic/claude-sonnet-4-5", "--base-url", server.url, "--out", str(tmp_path / "run")],
            capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    reported = [r.reply["usage"] for r in server.requests]
    assert len(reported) == 4 and all(u["cache_read_input_tokens"] for u in reported[1:])
    price_in, price_read, price_write, price_out = SONNET
    by_hand = sum(u["input_tokens"] * price_in + u["cache_read_input_tokens"] * price_read
                  + u["cache_creation_input_tokens"] * price_write + u["output_tokens"] * price_out
                  for u in reported) / 1e6
    [result] = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    total = result["usage"]["rollouts"]
    assert total["cost_usd"] == pytest.approx(by_hand)
    read = sum(u["cache_read_input_tokens"] for u in reported)
    assert total["cached_input_tokens"] == read
    assert total["cache_write_tokens"] == sum(u["cache_creation_input_tokens"] for u in reported)
    assert f"({read} cached)" in done.stderr and f"cost ${by_hand:.4f}" in done.stderr


def shared_prefix(a: list[dict], b: list[dict]) -> str:
    """The text two requests have in common from their start (system prompt, then the user prompt)."""
    import os

    flat = lambda messages: "\x00".join(m["content"] for m in messages)  # noqa: E731
    return os.path.commonprefix([flat(a), flat(b)])


def test_judge_and_summarizer_prompts_of_a_task_put_what_they_share_first():
    from codescale.agent.records import Step, Trajectory
    from codescale.scaling.compression import compress
    from codescale.scaling.summarizer import Summarizer, SummarizerConfig

    task = Task(instance_id="t-1", problem_statement="add() subtracts " * 50)
    model = ModelConfig(id="openai/gpt-5-mini", base_url="http://127.0.0.1:9/v1")
    judge = Judge(JudgeConfig(), model)
    summaries = {rid: Summary(task_id="t-1", rollout_id=rid, understanding=f"attempt {rid}") for rid in "abcd"}
    first, second = (judge.messages(task, order, summaries, {}) for order in (["a", "b"], ["c", "d"]))
    shared = shared_prefix(first, second)
    assert task.problem_statement.strip() in shared and "ANSWER: <n>" in shared  # the issue and the instructions
    assert "Each attempt is in a block" in shared and 'number="1"' not in shared  # then the request's own key and blocks
    summarizer = Summarizer(SummarizerConfig(), model)
    attempts = [Trajectory(task_id="t-1", rollout_id=rid, model=model.id, exit_status="submitted", steps=[
        Step(index=0, response=f"Try {rid}.\n```bash\nls {rid}\n```", action=f"ls {rid}", observation="x")])
        for rid in ("r1", "r2")]
    shared = shared_prefix(*(summarizer.messages(task, compress(traj, max_tokens=24000)) for traj in attempts))
    assert task.problem_statement.strip() in shared and "## Lessons" in shared
    assert len(shared) - shared.rindex("<attempt-") < len("<attempt-") + 12  # up to the request's own key
