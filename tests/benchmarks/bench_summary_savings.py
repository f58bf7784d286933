"""Summary tokens per task before and after summarizing only what selection or refinement reads.

    python tests/benchmarks/bench_summary_savings.py [--n 8] [--tasks 3]

One scripted run per strategy (rtv, pdr, pdr+rtv; N rollouts per generation, K=2, V=2) on the local sandbox,
every model call answered by the fake server (tests/scaling_script.py): each generation has empty and duplicate
patches, as greedy or weak rollouts give. "after" is the summarizer usage the run recorded; "before" adds the
summaries of every other rollout of the same run (made with the same summarizer on the same server), which is
what was summarized when every rollout of every generation was. Tokens are the fake server's (words).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the fake server and the script

from conftest import CALC_FILES, make_repo  # noqa: E402
from fake_server import FakeServer  # noqa: E402
from saved_runs import COMMANDS  # noqa: E402
from scaling_script import ScalingScript  # noqa: E402

from codescale.agent.models.base import ModelConfig, RetryConfig  # noqa: E402
from codescale.agent.records import Task, Usage  # noqa: E402
from codescale.agent.rollout import RolloutConfig, run_rollout  # noqa: E402
from codescale.scaling.base import ScalingConfig, make_strategy  # noqa: E402
from codescale.scaling.summarizer import Summarizer  # noqa: E402

GENERATION = ["fix", "wrong", "empty", "wrong", "other", "empty", "fix", "wrong"]


def solve_task(server, task: Task, task_dir: Path, strategy: str, n: int) -> tuple[int, int]:
    """(summary tokens recorded by the run, summary tokens when every rollout is summarized)."""
    plans = (GENERATION * (n // len(GENERATION) + 1))[:n]
    server.responder = ScalingScript(plans * 2, COMMANDS)
    model = ModelConfig(id="openai/fake", base_url=server.openai_url, retries=RetryConfig(attempts=1))
    rollout_config = RolloutConfig(model=model, sandbox={"kind": "local"})

    def rollout(task, *, rollout_id, generation=0, refinement_context="", spending=None):
        return run_rollout(task, rollout_config, run_id="bench", rollout_id=rollout_id, task_dir=task_dir,
                           generation=generation, refinement_context=refinement_context, spending=spending)

    config = ScalingConfig.model_validate({"strategy": strategy, "n": n, "concurrency": 2, "rtv": {"votes": 2}, "pdr": {"k": 2}})
    result = make_strategy(config, rollout=rollout, model=model, task_dir=task_dir).solve(task)
    summarized = {p.name.split(".")[0] for p in task_dir.glob("*.summary.json")}
    summarizer = Summarizer(config.summarizer, model)
    from codescale.agent.records import Trajectory

    rest = [summarizer.summarize(task, Trajectory.load(task_dir / f"{rid}.traj.json")).usage
            for ids in result.rollouts for rid in ids if rid not in summarized]
    after = result.usage.summaries.tokens
    return after, after + sum(rest, Usage()).tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--tasks", type=int, default=3)
    args = parser.parse_args()
    print(f"{'strategy':<9} {'tasks':>5} {'before tok/task':>16} {'after tok/task':>15} {'saved':>6}")
    with tempfile.TemporaryDirectory() as tmp, FakeServer() as server:
        root = Path(tmp)
        repo, commit = make_repo(root / "calc", CALC_FILES)
        for strategy in ("rtv", "pdr", "pdr+rtv"):
            before = after = 0
            for i in range(args.tasks):
                task = Task(instance_id=f"calc-{i}", problem_statement="add() subtracts instead of adding.",
                            repo_dir=str(repo), base_commit=commit)
                task_dir = root / strategy / task.instance_id
                task_dir.mkdir(parents=True)
                a, b = solve_task(server, task, task_dir, strategy, args.n)
                after, before = after + a, before + b
            print(f"{strategy:<9} {args.tasks:>5} {before / args.tasks:>16,.0f} {after / args.tasks:>15,.0f} "
                  f"{100 * (1 - after / before):>5.0f}%")


if __name__ == "__main__":
    main()
