"""The agent loop on real sandboxes against the fake model server: submission, every limit, timeouts,
huge output, format errors, model errors, and the trajectory written as it grows."""

from __future__ import annotations

import json
import re
import time

import pytest
from conftest import CALC_FILES, engine_events, make_repo
from fake_server import FakeServer

from codescale.agent.loop import AgentConfig
from codescale.agent.models.base import ModelConfig, RetryConfig
from codescale.agent.records import Task, Trajectory
from codescale.agent.rollout import RolloutConfig, run_rollout

FIX = "sed -i 's/return a - b/return a + b/' calc/ops.py"
FIXED_DIFF = """diff --git a/calc/ops.py b/calc/ops.py
index 7f2d7a1..0b4e5a5 100644
--- a/calc/ops.py
+++ b/calc/ops.py
@@ -1,5 +1,5 @@
 def add(a, b):
-    return a - b
+    return a + b
 
 
 def mul(a, b):
"""


def reply(command: str, reasoning: str = "Next step.") -> str:
    return f"{reasoning}\n\n```bash\n{command}\n```"


def script(*commands: str):
    """A responder playing an agent that runs `commands` in order, one per step (by the number of turns so far)."""

    def respond(body: dict) -> str:
        step = sum(1 for m in body["messages"] if m["role"] == "assistant")
        return reply(commands[min(step, len(commands) - 1)])

    return respond


@pytest.fixture(params=["local", "docker"])
def task(request, tmp_path) -> Task:
    """The calc task, in a local git repo or in a Docker image."""
    if request.param == "local":
        repo, commit = make_repo(tmp_path / "calc", CALC_FILES)
        return Task(instance_id="calc-1", problem_statement="add() subtracts", repo_dir=str(repo), base_commit=commit)
    image, commit = request.getfixturevalue("repo_image")(CALC_FILES)
    return Task(instance_id="calc-1", problem_statement="add() subtracts", image=image, base_commit=commit)


def rollout(task: Task, server: FakeServer, tmp_path, model_id: str = "openai/fake", sandbox: dict | None = None,
            **agent) -> Trajectory:
    config = RolloutConfig(
        model=ModelConfig(
            id=model_id, base_url=server.openai_url, timeout=5, retries=RetryConfig(min_wait=0.01, max_wait=0.05)
        ),
        sandbox={"kind": "local" if task.repo_dir else "docker", "timeout": 10, **(sandbox or {})},
        agent=AgentConfig(**agent),
    )
    return run_rollout(task, config, run_id="test-agent", rollout_id="r0", task_dir=tmp_path / "out")


def saved(tmp_path) -> Trajectory:
    return Trajectory.load(tmp_path / "out" / "r0.traj.json")


def test_fix_and_submit_gives_exactly_the_change(task, tmp_path):
    with FakeServer(responder=script(FIX, "python3 -m pytest -q tests", "echo CODESCALE_SUBMIT")) as server:
        traj = rollout(task, server, tmp_path)
    assert traj.exit_status == "submitted"
    assert traj.patch.replace(traj.patch.split("\n")[1], "index 7f2d7a1..0b4e5a5 100644") == FIXED_DIFF
    assert [s.action for s in traj.steps] == [FIX, "python3 -m pytest -q tests", "echo CODESCALE_SUBMIT"]
    assert "2 passed" in traj.steps[1].observation
    assert saved(tmp_path).model_dump() == traj.model_dump()
    words = sum(len(reply(s.action).split()) for s in traj.steps)  # the fake server counts words
    assert (traj.usage.requests, traj.usage.output_tokens) == (3, words)
    assert traj.usage.input_tokens == sum(s.usage.input_tokens for s in traj.steps) > 0


def test_the_bare_submit_command_is_not_sent_to_the_container(repo_image, docker_client, tmp_path):
    """`echo CODESCALE_SUBMIT` alone has a known output: the rollout submits without a round trip to run it (seen
    with the exec shell, whose commands are the engine's exec events)."""
    image, commit = repo_image(CALC_FILES)
    task = Task(instance_id="calc-1", problem_statement="add() subtracts", image=image, base_commit=commit)
    since = time.time()
    with FakeServer(responder=script(FIX, "echo CODESCALE_SUBMIT")) as server:
        traj = rollout(task, server, tmp_path, sandbox={"shell": "exec"})
    assert traj.exit_status == "submitted" and "return a + b" in traj.patch
    assert traj.steps[-1].observation == "CODESCALE_SUBMIT\n" and traj.steps[-1].returncode == 0
    events = engine_events(docker_client, since, "container", "exec_create")
    run = [e["Action"] for e in events if e["Actor"]["Attributes"].get("codescale.run_id") == "test-agent"]
    assert any("sed -i" in action for action in run), run  # the events were seen: the fix ran as an exec
    assert not any("CODESCALE_SUBMIT" in action for action in run), run


def test_prompts_follow_the_templates(task, tmp_path):
    with FakeServer(responder=script("echo CODESCALE_SUBMIT")) as server:
        rollout(task, server, tmp_path)
    messages = server.requests[0].json["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "exactly ONE command" in messages[0]["content"]
    assert re.search(r"^<issue-([0-9a-f]{12})>\nadd\(\) subtracts\n</issue-\1>$", messages[1]["content"], re.MULTILINE)
    assert "Earlier attempts" not in messages[1]["content"]


def test_step_limit(task, tmp_path):
    with FakeServer(responder=script("ls")) as server:
        traj = rollout(task, server, tmp_path, step_limit=3)
    assert (traj.exit_status, len(traj.steps), len(server.requests)) == ("step_limit", 3, 3)
    assert traj.error == "reached 3 steps"
    assert saved(tmp_path).exit_status == "step_limit"


def test_token_limit_ends_with_token_limit(task, tmp_path):
    with FakeServer(responder=script("ls")) as server:
        traj = rollout(task, server, tmp_path, token_limit=150)
    assert traj.exit_status == "token_limit"
    assert traj.usage.tokens >= 150
    before_last = traj.usage.tokens - traj.steps[-1].usage.tokens
    assert before_last < 150


def test_cost_limit_uses_the_price_table(task, tmp_path):
    with FakeServer(responder=script("ls")) as server:
        traj = rollout(task, server, tmp_path, model_id="openai/gpt-5-mini", cost_limit=0.0002)
    assert traj.exit_status == "cost_limit"
    assert traj.usage.cost_usd >= 0.0002
    assert traj.usage.cost_usd - traj.steps[-1].usage.cost_usd < 0.0002


def test_time_limit(task, tmp_path):
    with FakeServer(responder=script("sleep 1")) as server:
        traj = rollout(task, server, tmp_path, time_limit=0.5)
    assert (traj.exit_status, len(traj.steps)) == ("time_limit", 1)


def test_a_command_that_times_out_is_killed_and_reported(task, tmp_path):
    with FakeServer(responder=script("sleep 60", "echo CODESCALE_SUBMIT")) as server:
        traj = rollout(task, server, tmp_path)
    first = traj.steps[0]
    assert first.timed_out and first.returncode == 137
    assert first.command_seconds < 20
    assert first.observation.startswith("The command was killed after the time limit")
    assert traj.exit_status == "submitted"


def test_megabytes_of_output_are_cut_for_the_model(task, tmp_path):
    with FakeServer(responder=script("yes 0123456789 | head -c 3000000", "echo CODESCALE_SUBMIT")) as server:
        traj = rollout(task, server, tmp_path, observation_limit=2000)
    observation = traj.steps[0].observation
    assert "<warning>The output was 1000" in observation  # the sandbox kept 1 MB, the model sees 2000 chars
    assert len(observation) < 2600
    sent = server.requests[1].json["messages"][-1]["content"]
    assert sent == observation
    assert (tmp_path / "out" / "r0.traj.json").stat().st_size < 20_000


def test_a_reply_without_a_command_is_answered_and_counted(task, tmp_path):
    replies = ["I think the bug is in add.", reply(FIX), "two\n```bash\nls\n```\n```bash\npwd\n```", reply("echo CODESCALE_SUBMIT")]
    with FakeServer(replies=replies) as server:
        traj = rollout(task, server, tmp_path)
    assert traj.exit_status == "submitted"
    assert [s.action for s in traj.steps] == [None, FIX, None, "echo CODESCALE_SUBMIT"]
    assert traj.steps[0].observation.startswith("Your reply had 0 fenced ```bash blocks")
    assert traj.steps[2].observation.startswith("Your reply had 2 fenced ```bash blocks")
    assert server.requests[1].json["messages"][-1]["content"] == traj.steps[0].observation


def test_every_step_was_sent_exactly_the_messages_the_trajectory_gives_for_it(task, tmp_path):
    replies = ["No command yet.", reply(FIX), reply("seq 1 5000"), reply("echo CODESCALE_SUBMIT")]
    with FakeServer(replies=replies) as server:
        rollout(task, server, tmp_path, observation_limit=200)
    traj = saved(tmp_path)  # as read back from the file
    sent = [r.json["messages"] for r in server.requests if r.path.endswith("/chat/completions")]
    assert len(sent) == len(traj.steps) == 4
    assert [traj.messages(k) for k in range(4)] == sent
    assert traj.prompt == sent[0] and [m["role"] for m in traj.prompt] == ["system", "user"]
    assert "only its start and end are shown" in sent[3][-1]["content"]  # the observation template, as sent
    assert traj.messages() == sent[3] + [{"role": "assistant", "content": replies[3]},
                                         {"role": "user", "content": traj.steps[3].observation}]


def test_a_trajectory_written_before_prompts_were_kept_still_loads(tmp_path):
    old = {"task_id": "t", "rollout_id": "r0", "model": "openai/fake", "exit_status": "submitted",
           "steps": [{"index": 0, "response": "hi", "action": "ls", "observation": "out"}]}
    (tmp_path / "r0.traj.json").write_text(json.dumps(old))
    traj = Trajectory.load(tmp_path / "r0.traj.json")
    assert traj.prompt == [] and traj.messages() == [{"role": "assistant", "content": "hi"}, {"role": "user", "content": "out"}]
    opening = [{"role": "system", "content": "S"}, {"role": "user", "content": "I"}]
    assert traj.messages(0, opening) == opening


def test_extra_actions_first_runs_the_first_command_only(task, tmp_path):
    plan = f"Plan:\n```bash\n{FIX}\n```\nthen\n```bash\nrm -rf calc\n```"
    with FakeServer(replies=[plan, reply("echo CODESCALE_SUBMIT")]) as server:
        traj = rollout(task, server, tmp_path, extra_actions="first")
    assert [s.action for s in traj.steps] == [FIX, "echo CODESCALE_SUBMIT"]
    assert traj.exit_status == "submitted" and "+    return a + b" in traj.patch


def test_too_many_format_errors_in_a_row_end_the_rollout(task, tmp_path):
    with FakeServer(responder=lambda body: "no command here") as server:
        traj = rollout(task, server, tmp_path, max_format_errors=2)
    assert (traj.exit_status, len(traj.steps)) == ("format_error", 2)


def test_retries_inside_a_rollout_are_invisible_to_it(task, tmp_path):
    with FakeServer(responder=script("ls", "echo CODESCALE_SUBMIT")) as server:
        server.faults.extend([("status", 500), ("status", 429, 0.01), ("malformed",)])
        traj = rollout(task, server, tmp_path)
    assert traj.exit_status == "submitted"
    assert len(traj.steps) == 2
    assert len(server.requests) == 5


def test_a_model_that_keeps_failing_ends_with_model_error_and_keeps_the_steps(task, tmp_path):
    answers = iter([reply(FIX)])

    def respond(body):
        return next(answers)  # StopIteration -> the server answers 400

    with FakeServer(responder=respond) as server:
        traj = rollout(task, server, tmp_path)
    assert traj.exit_status == "model_error"
    assert "400" in traj.error
    assert len(traj.steps) == 1
    assert "return a + b" in traj.patch  # the work done so far is kept
    assert saved(tmp_path).exit_status == "model_error"


def test_the_trajectory_is_on_disk_as_it_grows(task, tmp_path):
    seen: list[int] = []

    def respond(body):
        path = tmp_path / "out" / "r0.traj.json"
        seen.append(len(json.loads(path.read_text())["steps"]))
        return script("ls", "ls", "echo CODESCALE_SUBMIT")(body)

    with FakeServer(responder=respond) as server:
        rollout(task, server, tmp_path)
    assert seen == [0, 1, 2]


def test_secrets_stay_out_of_the_sandbox_and_the_trajectory(task, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-1234")
    with FakeServer(responder=script("env", "echo CODESCALE_SUBMIT")) as server:
        traj = rollout(task, server, tmp_path)
    assert server.requests[0].api_key == "sk-test-SECRET-1234"  # the key reaches the model server...
    assert "SECRET" not in traj.steps[0].observation  # ...and nothing else
    assert "SECRET" not in (tmp_path / "out" / "r0.traj.json").read_text()
