"""Long horizons: what condensation and summaries cost and save on scripted rollouts of 25, 100 and 250 steps.

    python tests/benchmarks/bench_long_horizon.py [--steps 25 100 250] [--output-words 1000] [--window 32768]

Each rollout runs a scripted agent on the local sandbox against the fake server (tests/long_rollout.py), whose
tokens are words: every step prints `--output-words` words (7 characters each), then it submits. The same script
runs twice: in a window too small for it (`--window`, `agent.context: condense`, the defaults: 80 % threshold, 4 steps
kept) and, where the rollout fits one, in a window large enough that nothing is condensed. The scripted condensing
model and summarizer answer with the longest summary allowed (500 words, trimmed to the limit), the worst case for
the ratios below.

Printed per rollout length:
- sent: the tokens the rollout sent in total (input and output of every agent request, and of its condensing calls)
  condensed vs uncondensed, and their ratio;
- condensations: how many, and their cost in the condensing model's tokens per 100 steps;
- the largest request, against the window;
- summary: the trajectory summary's tokens / the trajectory's tokens (both estimated, as recorded per rollout), for
  the condensed rollout (read through its latest condensation) and the uncondensed one (read through its earlier
  steps condensed chunk by chunk by the summarizer, whose calls are counted too), and the summarizer's tokens.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the fake server and the script

from conftest import CALC_FILES, make_repo  # noqa: E402
from fake_server import FakeServer, words  # noqa: E402
from long_rollout import LongRollout  # noqa: E402

from codescale.agent.loop import AgentConfig  # noqa: E402
from codescale.agent.models.base import ModelConfig, RetryConfig  # noqa: E402
from codescale.agent.records import Task, Trajectory  # noqa: E402
from codescale.agent.rollout import RolloutConfig, run_rollout  # noqa: E402
from codescale.scaling.summarizer import Summarizer, SummarizerConfig  # noqa: E402

REPLY_CAP = 1024
SECTIONS = ("Understanding", "Hypotheses", "Actions", "Evidence", "Failure modes", "Final state", "Lessons")
LONGEST = "\n\n".join(f"## {name}\n" + "detail " * 90 for name in SECTIONS)  # 630 words: trimmed to 500


class Script(LongRollout):
    """The long rollout; its condensing model and the summarizer answer with the longest summary allowed."""

    def __call__(self, body: dict) -> str:
        if body["messages"][0]["content"].startswith("You summarize one attempt"):
            return LONGEST
        return super().__call__(body)


def run(task: Task, steps: int, output_words: int, window: int, out: Path) -> tuple[Trajectory, int, int]:
    """One scripted rollout in `window`: its trajectory, the tokens it sent, and its largest request."""
    command = f"seq 100000 {100000 + output_words - 1}"
    script = Script([command] * (steps - 1), condenser_reply=LONGEST)
    with FakeServer(responder=script, window=window) as server:
        config = RolloutConfig(
            model=ModelConfig(id="openai/fake-model", base_url=server.openai_url, max_tokens=REPLY_CAP, timeout=60,
                              retries=RetryConfig(attempts=1)),
            sandbox={"kind": "local", "timeout": 30}, agent=AgentConfig(step_limit=steps + 5),
        )
        traj = run_rollout(task, config, run_id="bench", rollout_id=f"w{window}", task_dir=out)
        bodies = [r.json for r in server.requests if r.path == "/v1/chat/completions"]
    largest = max(sum(words(m["content"]) for m in b["messages"]) + b["max_tokens"] for b in bodies)
    return traj, traj.usage.tokens, largest


def summarize(task: Task, traj: Trajectory, window: int):
    with FakeServer(responder=Script([]), window=window) as server:
        model = ModelConfig(id="openai/fake-model", base_url=server.openai_url, retries=RetryConfig(attempts=1))
        return Summarizer(SummarizerConfig(), model).summarize(task, traj)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[25, 100, 250])
    parser.add_argument("--output-words", type=int, default=1000)
    parser.add_argument("--window", type=int, default=32768)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-long-"))
    repo, commit = make_repo(root / "calc", CALC_FILES)
    task = Task(instance_id="calc-1", problem_statement="add() subtracts", repo_dir=str(repo), base_commit=commit)
    print(f"window {args.window:,} tokens; {args.output_words:,} words of output per step; reply cap {REPLY_CAP}")
    for steps in args.steps:
        start = time.monotonic()
        large = int((steps * (args.output_words + 20) + 1000) * 1.3) + REPLY_CAP  # holds the whole rollout
        condensed, sent, biggest = run(task, steps, args.output_words, args.window, root / f"c{steps}")
        plain, plain_sent, plain_biggest = run(task, steps, args.output_words, max(large, args.window),
                                               root / f"p{steps}")
        assert condensed.exit_status == plain.exit_status == "submitted", (condensed.error, plain.error)
        assert not plain.condensations
        cost = sum(c.usage.tokens for c in condensed.condensations)
        s_condensed = summarize(task, condensed, args.window)
        s_plain = summarize(task, plain, args.window)
        print(f"\n{steps} steps ({time.monotonic() - start:.0f} s)")
        print(f"  sent: condensed {sent:,} tokens vs uncondensed {plain_sent:,} (window {max(large, args.window):,}):"
              f" {sent / plain_sent:.3f}x")
        print(f"  condensations: {len(condensed.condensations)}, {cost:,} condensing tokens = "
              f"{cost * 100 / steps:,.0f} per 100 steps ({cost / sent:.1%} of what the rollout sent)")
        print(f"  largest request: condensed {biggest:,} of a window of {args.window:,}; uncondensed {plain_biggest:,}")
        for name, summary in (("condensed", s_condensed), ("uncondensed", s_plain)):
            print(f"  summary of the {name} rollout: {summary.summary_tokens:,} / {summary.trajectory_tokens:,} "
                  f"trajectory tokens = {summary.compression:.4f} (1/{1 / summary.compression:,.0f}); summarizer "
                  f"{summary.usage.tokens:,} tokens in {summary.usage.requests} calls ({summary.chunks} chunks); "
                  f"{'fallback' if summary.fallback else 'LLM'} summary")


if __name__ == "__main__":
    main()
