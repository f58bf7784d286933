"""Summaries of long rollouts stay small and fit the summarizer's own window: a 200-step rollout is read through its
condensations, or through its earlier steps condensed chunk by chunk; the compression ratio is recorded."""

from __future__ import annotations

import math
import re

from fake_server import FakeServer, words

from codescale.agent.models.base import ModelConfig, RetryConfig
from codescale.agent.records import Condensation, Step, Task, Trajectory
from codescale.scaling.summarizer import Summarizer, SummarizerConfig

TASK = Task(instance_id="calc-1", problem_statement="add() subtracts instead of adding.")
WINDOW = 8000
CHUNK_REPLY = "## Actions\nSteps {first} to {last}: listed numbers.\n\n## Final state\nNothing changed yet."
SUMMARY_REPLY = "## Understanding\n" + "word " * 900 + "\n\n## Final state\nSubmitted after 200 steps."


def long_trajectory(steps: int = 200) -> Trajectory:
    output = "\n".join(str(n) for n in range(1000, 1400))  # 400 words, 2,000 characters
    made = [Step(index=i, response=f"Step {i}.\n```bash\nseq 1000 1399\n```", action="seq 1000 1399",
                 observation=f"<returncode>0</returncode>\n<output>\n{output}\n</output>", returncode=0)
            for i in range(steps)]
    return Trajectory(task_id="calc-1", rollout_id="g0-r0", model="openai/fake-model", steps=made,
                      exit_status="submitted", patch="")


def respond(body: dict) -> str:
    prompt = body["messages"][-1]["content"]
    steps = re.search(r'<steps-[0-9a-f]+ first="(\d+)" last="(\d+)">', prompt)
    if steps:
        return CHUNK_REPLY.format(first=steps.group(1), last=steps.group(2))
    return SUMMARY_REPLY


def summarizer(server: FakeServer, **config) -> Summarizer:
    fast = RetryConfig(attempts=2, min_wait=0, max_wait=0)
    return Summarizer(SummarizerConfig(**config), ModelConfig(id="openai/fake-model", base_url=server.openai_url,
                                                              retries=fast))


def lengths(server: FakeServer) -> list[int]:
    return [sum(words(m["content"]) for m in r.json["messages"]) + r.json["max_tokens"]
            for r in server.requests if r.path == "/v1/chat/completions"]


def test_a_200_step_rollout_is_summarized_within_the_summarizers_window_through_chunks():
    traj = long_trajectory()
    with FakeServer(responder=respond, window=WINDOW) as server:
        summary = summarizer(server).summarize(TASK, traj)
    bodies = [r.json for r in server.requests if r.path == "/v1/chat/completions"]
    chunks = [b for b in bodies if re.search(r"<steps-[0-9a-f]+ first=", b["messages"][-1]["content"])]
    assert summary.fallback is False
    assert max(lengths(server)) <= WINDOW  # every call fitted the window it was refused past
    assert summary.chunks == len(chunks) == len(bodies) - 1 >= 2
    covered = [tuple(map(int, re.search(r'first="(\d+)" last="(\d+)"', b["messages"][-1]["content"]).groups()))
               for b in chunks]
    assert covered[0][0] == 0 and all(b[0] == a[1] + 1 for a, b in zip(covered, covered[1:]))
    final = bodies[-1]["messages"][-1]["content"]
    last = covered[-1][1]
    assert f"[steps 0 to {last}, condensed]\n## Actions\nSteps {covered[-1][0]} to {last}" in final
    assert "[step 199]" in final and "steps omitted" not in final
    assert len(summary.markdown().split()) <= 500 + 20  # the word limit, headings and a trim marker aside
    assert summary.usage.requests == len(bodies)
    assert summary.trajectory_tokens > 100_000
    assert summary.compression == summary.summary_tokens / summary.trajectory_tokens < 0.1


def test_a_condensed_rollout_is_summarized_from_its_latest_condensation():
    traj = long_trajectory()
    traj.condensations = [
        Condensation(at_step=s + 5, first_step=f, last_step=s, reason="threshold", window=WINDOW, tokens_before=4900,
                     tokens_after=2000, summary=f"## Actions\nCondensed through step {s}.", message="")
        for f, s in ((0, 99), (100, 189))
    ]
    with FakeServer(responder=respond, window=WINDOW) as server:
        summary = summarizer(server).summarize(TASK, traj)
    (body,) = [r.json for r in server.requests if r.path == "/v1/chat/completions"]
    prompt = body["messages"][-1]["content"]
    assert summary.chunks == 0 and summary.fallback is False
    assert "[steps 0 to 189, condensed]\n## Actions\nCondensed through step 189." in prompt
    assert "through step 99" not in prompt and "[step 189]" not in prompt and "[step 190]" in prompt
    assert max(lengths(server)) <= WINDOW


def test_cut_leaves_the_middle_out_without_extra_calls():
    with FakeServer(responder=respond, window=WINDOW) as server:
        summary = summarizer(server, overflow="cut").summarize(TASK, long_trajectory())
    (body,) = [r.json for r in server.requests if r.path == "/v1/chat/completions"]
    assert summary.chunks == 0 and "steps omitted ...]" in body["messages"][-1]["content"]
    assert max(lengths(server)) <= WINDOW


def test_a_short_rollout_needs_no_window(fake_server):
    fake_server.responder = respond
    (step,) = long_trajectory(steps=1).steps
    summary = summarizer(fake_server).summarize(TASK, long_trajectory(steps=1))
    assert [r.path for r in fake_server.requests] == ["/v1/chat/completions"]  # no window looked up
    assert summary.trajectory_tokens == math.ceil(len(step.response) / 4) + math.ceil(len(step.observation) / 4)
    assert summary.summary_tokens == math.ceil(len(summary.markdown()) / 4)
