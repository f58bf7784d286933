"""Summary compression on the trajectories of finished runs: trajectory tokens / summary tokens.

    python tests/benchmarks/bench_summaries.py RUN_DIR [RUN_DIR ...]

Per rollout that has an LLM summary (fallbacks are counted apart): the trajectory's tokens are the
context of the agent's last model call as the server counted it (its input plus its output tokens: the
whole conversation); the summarizer's input is the compressed trajectory plus the prompt, and the
summary's tokens are the summarizer's output tokens. All three are the server's usage numbers.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from codescale.agent.records import Trajectory
from codescale.scaling.records import Summary


def rows(run_dir: Path):
    for path in sorted(run_dir.glob("tasks/*/*.summary.json")):
        summary = Summary.model_validate_json(path.read_text())
        traj_path = path.with_name(path.name.replace(".summary.json", ".traj.json"))
        if not traj_path.exists():
            continue
        traj = Trajectory.load(traj_path)
        last = traj.steps[-1].usage if traj.steps else None
        yield traj, summary, (last.input_tokens + last.output_tokens) if last else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    args = parser.parse_args()
    ratios, fallbacks = [], 0
    print(f"{'task':<28} {'rollout':<8} {'steps':>5} {'traj tok':>9} {'summ in':>8} {'summ out':>8} {'ratio':>6}")
    for run_dir in args.run_dirs:
        for traj, summary, traj_tokens in rows(run_dir):
            if summary.fallback:
                fallbacks += 1
                continue
            out = summary.usage.output_tokens
            ratio = traj_tokens / out if out else float("nan")
            ratios.append(ratio)
            print(f"{traj.task_id[:28]:<28} {traj.rollout_id:<8} {len(traj.steps):>5} {traj_tokens:>9} "
                  f"{summary.usage.input_tokens:>8} {out:>8} {ratio:>6.1f}")
    if ratios:
        print(f"\n{len(ratios)} LLM summaries ({fallbacks} fallbacks left out): trajectory/summary tokens "
              f"median {statistics.median(ratios):.1f}, mean {statistics.fmean(ratios):.1f}, "
              f"min {min(ratios):.1f}, max {max(ratios):.1f}")
    else:
        print(f"no LLM summaries found ({fallbacks} fallbacks)")


if __name__ == "__main__":
    main()
