"""Input tokens billed at full price by a 30-step rollout on an Anthropic model, without and with prompt caching.

    python tests/benchmarks/bench_prompt_cache.py [--steps 30]

The same scripted rollout runs twice, side by side in one process, on the local sandbox against the fake server
speaking Anthropic's Messages API (tests/fake_server.py), which answers requests that carry `cache_control` from
Anthropic's prompt cache as the API keeps it (tests/prompt_cache.py: reads at breakpoints and up to 20 blocks before
them, writes up to the last breakpoint; tokens are words). The agent reads a file per step (about 60 words of output)
and submits after `--steps` steps. "off" is `model.prompt_cache: false` (what every request paid before caching);
"on" is the default. Cost at claude-sonnet-4-5's list prices (configs/models.yaml: input $3, cache read $0.30, cache
write $3.75, output $15 per million tokens).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the fake server

from conftest import make_repo  # noqa: E402
from fake_server import FakeServer  # noqa: E402

from codescale.agent.loop import AgentConfig  # noqa: E402
from codescale.agent.models.base import ModelConfig, RetryConfig  # noqa: E402
from codescale.agent.records import Task, Trajectory  # noqa: E402
from codescale.agent.rollout import RolloutConfig, run_rollout  # noqa: E402

FILES = {f"notes/part{i}.txt": " ".join(f"line{i}-{w}" for w in range(60)) + "\n" for i in range(8)}


def script(steps: int):
    def reply(body: dict) -> str:
        step = sum(m["role"] == "assistant" for m in body["messages"])
        if step >= steps:
            return "Done.\n```bash\necho CODESCALE_SUBMIT\n```"
        return f"Reading part {step % 8} to understand the code.\n```bash\ncat notes/part{step % 8}.txt\n```"

    return reply


def rollout(root: Path, steps: int, prompt_cache: bool) -> tuple[Trajectory, list[dict]]:
    repo, commit = make_repo(root / f"repo-{prompt_cache}", FILES)
    task = Task(instance_id="notes-1", problem_statement="Summarize the notes. " * 40, repo_dir=str(repo),
                base_commit=commit)
    with FakeServer(responder=script(steps)) as server:
        model = ModelConfig(id="anthropic/claude-sonnet-4-5", base_url=server.url, prompt_cache=prompt_cache,
                            retries=RetryConfig(attempts=1))
        config = RolloutConfig(model=model, sandbox={"kind": "local"}, agent=AgentConfig(step_limit=steps + 5))
        traj = run_rollout(task, config, run_id="bench-cache", rollout_id=f"r-{prompt_cache}",
                           task_dir=root / f"task-{prompt_cache}")
        reported = [r.reply["usage"] for r in server.requests]
    return traj, reported


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cache in (False, True):
            traj, reported = rollout(Path(tmp), args.steps, cache)
            assert traj.exit_status == "submitted", traj.error
            rows.append((cache, traj, reported))
    print(f"{'prompt cache':<13}{'requests':>9}{'input':>10}{'full price':>12}{'cache read':>12}{'cache write':>12}"
          f"{'output':>8}{'cost USD':>10}")
    for cache, traj, reported in rows:
        u = traj.usage
        full = sum(r["input_tokens"] for r in reported)
        print(f"{'on' if cache else 'off':<13}{u.requests:>9}{u.input_tokens:>10}{full:>12}{u.cached_input_tokens:>12}"
              f"{u.cache_write_tokens:>12}{u.output_tokens:>8}{u.cost_usd:>10.4f}")
    (_, off, off_reported), (_, on, on_reported) = rows
    full_off, full_on = (sum(r["input_tokens"] for r in rep) for rep in (off_reported, on_reported))
    print(f"input tokens billed at full price: {full_off} without caching, {full_on} with it "
          f"({full_on / full_off:.3f}x); cost {on.usage.cost_usd / off.usage.cost_usd:.3f}x")


if __name__ == "__main__":
    main()
