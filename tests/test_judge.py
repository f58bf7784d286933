"""The LLM judge against the fake model server: prompts, `ANSWER:` parsing, n-batching, failures."""

from __future__ import annotations

import re

from codescale.agent.models.base import ModelConfig, RetryConfig
from codescale.agent.records import Task
from codescale.scaling.judge import Judge, JudgeConfig, parse_answer
from codescale.scaling.records import Summary
from codescale.scaling.rtv import RTVConfig, tournament, vote_orders

TASK = Task(instance_id="demo-1", problem_statement="add() subtracts instead of adding.")
FAST = RetryConfig(attempts=1, min_wait=0, max_wait=0)


def model(server, backend="openai") -> ModelConfig:
    url = server.openai_url if backend == "openai" else server.url
    return ModelConfig(id=f"{backend}/fake", base_url=url, retries=FAST)


def summaries(ids, good=()):
    return {
        rid: Summary(task_id="demo-1", rollout_id=rid, final_state=f"{rid}: " + ("WORKS, tests pass" if rid in good else "tests fail"))
        for rid in ids
    }


def candidates_in(prompt: str) -> list[str]:
    """The rollout ids in the order the prompt shows them (each summary names its rollout)."""
    blocks = re.split(r"^Candidate \d+$", prompt, flags=re.MULTILINE)[1:]
    return [re.search(r"(r\d+):", block).group(1) for block in blocks]


def prefer_working(body):
    """A scripted judge: names the candidate whose summary says WORKS, else the lowest rollout number."""
    prompt = body["messages"][-1]["content"]
    blocks = re.split(r"^Candidate \d+$", prompt, flags=re.MULTILINE)[1:]
    ids = candidates_in(prompt)
    best = next((i for i, b in enumerate(blocks, 1) if "WORKS" in b), None)
    best = best or 1 + ids.index(min(ids, key=lambda rid: int(rid[1:])))
    return f"Candidate {best} looks best.\nANSWER: {best}"


def test_parse_answer_takes_the_last_answer_line_in_range():
    assert parse_answer("I think 1.\nANSWER: 2", 2) == 2
    assert parse_answer("ANSWER: 1\nwait, no.\nANSWER: 2", 2) == 2
    assert parse_answer("**ANSWER: 1**", 2) == 1
    assert parse_answer("answer: candidate 2", 2) == 2
    assert parse_answer("ANSWER: 3", 2) is None
    assert parse_answer("ANSWER: 0", 2) is None
    assert parse_answer("Candidate 2 is best.", 2) is None


def test_votes_of_one_ordering_are_one_request_with_n(fake_server):
    fake_server.responder = prefer_working
    judge = Judge(JudgeConfig(), model(fake_server))
    import random

    orders = vote_orders(["r1", "r2"], 8, random.Random(0))
    votes = judge.vote(TASK, summaries(["r1", "r2"], good={"r2"}), {}, orders)
    assert [v.choice for v in votes] == ["r2"] * 8
    assert [v.order for v in votes] == orders
    bodies = [r.json for r in fake_server.requests]
    assert len(bodies) == 2 and [b["n"] for b in bodies] == [4, 4] and all(b["temperature"] == 1.0 for b in bodies)
    shown = sorted(tuple(candidates_in(b["messages"][-1]["content"])) for b in bodies)
    assert shown == [("r1", "r2"), ("r2", "r1")]
    prompt = bodies[0]["messages"][-1]["content"]
    assert prompt.startswith("<issue>\nadd() subtracts instead of adding.\n</issue>") and prompt.rstrip().endswith("ANSWER: <n>`.")
    # the request's usage is on the first vote of each request only
    assert sum(v.usage.requests for v in votes) == 2
    assert sum(v.usage.input_tokens for v in votes) == sum(
        sum(len(m["content"].split()) for m in b["messages"]) for b in bodies
    )


def test_without_batching_each_vote_is_a_request(fake_server):
    fake_server.responder = prefer_working
    judge = Judge(JudgeConfig(batch_votes=False), model(fake_server))
    votes = judge.vote(TASK, summaries(["r1", "r2"], good={"r1"}), {}, [["r1", "r2"], ["r2", "r1"]] * 2)
    assert [v.choice for v in votes] == ["r1"] * 4
    assert len(fake_server.requests) == 4 and all("n" not in r.json for r in fake_server.requests)


def test_anthropic_votes_are_one_request_each(fake_server):
    fake_server.responder = prefer_working
    judge = Judge(JudgeConfig(), model(fake_server, "anthropic"))
    votes = judge.vote(TASK, summaries(["r1", "r2"], good={"r1"}), {}, [["r1", "r2"]] * 3)
    assert [v.choice for v in votes] == ["r1"] * 3
    assert [r.path for r in fake_server.requests] == ["/v1/messages"] * 3


def test_unparseable_replies_are_invalid_votes(fake_server):
    fake_server.replies.extend(["ANSWER: 2", "no idea", "ANSWER: 5", "ANSWER: 1\nANSWER: 2"])
    judge = Judge(JudgeConfig(), model(fake_server))
    votes = judge.vote(TASK, summaries(["r1", "r2"]), {}, [["r1", "r2"]] * 4)
    assert [v.choice for v in votes] == ["r2", None, None, "r2"]
    assert [v.response for v in votes] == ["ANSWER: 2", "no idea", "ANSWER: 5", "ANSWER: 1\nANSWER: 2"]


def test_a_failed_call_gives_invalid_votes_not_an_error(fake_server):
    fake_server.faults.extend([("status", 500), ("status", 500)])
    judge = Judge(JudgeConfig(), model(fake_server))
    votes = judge.vote(TASK, summaries(["r1", "r2"]), {}, [["r1", "r2"]] * 2)
    assert [v.choice for v in votes] == [None, None] and all(v.failed and not v.empty for v in votes)
    assert all(v.response.startswith("judge call failed:") and "HTTP 500" in v.response for v in votes)
    assert len(fake_server.requests) == 2  # the request, then its own retry


def test_a_failed_request_is_retried_on_its_own(fake_server):
    fake_server.responder = prefer_working
    fake_server.faults.append(("status", 500))
    judge = Judge(JudgeConfig(concurrency=1), model(fake_server))
    orders = [["r1", "r2"], ["r2", "r1"]] * 2
    votes = judge.vote(TASK, summaries(["r1", "r2"], good={"r2"}), {}, orders)
    assert [v.choice for v in votes] == ["r2"] * 4 and not any(v.failed for v in votes)
    shown = [tuple(candidates_in(r.json["messages"][-1]["content"])) for r in fake_server.requests]
    assert shown == [("r1", "r2"), ("r1", "r2"), ("r2", "r1")]  # only the failed ordering was sent again


def test_reply_caps_fit_reasoning_models(fake_server):
    fake_server.responder = prefer_working
    plain = Judge(JudgeConfig(), model(fake_server))
    reasoning = Judge(JudgeConfig(), ModelConfig(id="openai/gpt-5-mini", base_url=fake_server.openai_url, retries=FAST))
    thinking = Judge(JudgeConfig(thinking={"max_tokens": 1000}), model(fake_server))
    fixed = Judge(JudgeConfig(max_tokens=300), ModelConfig(id="openai/gpt-5-mini", base_url=fake_server.openai_url))
    assert (plain.max_tokens, reasoning.max_tokens, thinking.max_tokens, fixed.max_tokens) == (2048, 16384, 3048, 300)
    reasoning.vote(TASK, summaries(["r1", "r2"]), {}, [["r1", "r2"]])
    assert fake_server.requests[-1].json["max_completion_tokens"] == 16384


def test_empty_replies_are_counted_apart(fake_server):
    fake_server.replies.extend(["", "ANSWER: 1"])
    judge = Judge(JudgeConfig(), model(fake_server))
    votes = judge.vote(TASK, summaries(["r1", "r2"]), {}, [["r1", "r2"]] * 2)
    assert [v.choice for v in votes] == [None, "r1"] and [v.empty for v in votes] == [True, False]


def test_show_diff_puts_patches_in_the_prompt(fake_server):
    fake_server.responder = prefer_working
    judge = Judge(JudgeConfig(show_diff=True, diff_limit=100), model(fake_server))
    patch = "diff --git a/calc/ops.py b/calc/ops.py\n" + "+x = 1\n" * 50
    judge.vote(TASK, summaries(["r1", "r2"]), {"r1": patch, "r2": ""}, [["r1", "r2"]])
    prompt = fake_server.requests[0].json["messages"][-1]["content"]
    assert "Its patch:\n```diff\ndiff --git a/calc/ops.py b/calc/ops.py\n+x = 1" in prompt
    assert f"[... {len(patch.strip()) - 100} characters cut ...]" in prompt and "```diff\n(empty)\n```" in prompt


def test_a_full_tournament_with_the_llm_judge_picks_the_working_one(fake_server):
    fake_server.responder = prefer_working
    ids = [f"r{i}" for i in range(16)]
    judge = Judge(JudgeConfig(), model(fake_server))
    vote = lambda orders: judge.vote(TASK, summaries(ids, good={"r11"}), {}, orders)  # noqa: E731
    sel = tournament(ids, vote, RTVConfig(), seed=0)
    assert sel.winners == ["r11"]
    assert len(fake_server.requests) == 30  # 15 matches x 2 orderings
    assert sel.usage.requests == 30 and sel.usage.input_tokens > 0
