"""Budget forcing on the bundled tasks with the local small model: thinking tokens per step and resolved rate
at a few thinking caps (one rollout per task and cap, docker sandbox, graded by the swebench harness).

    python tests/benchmarks/bench_thinking.py [--budgets 0,32,128] [--tasks N] [--steps 10] [--base-image codescale/base:bookworm]

Prints one Markdown row per cap: tasks, resolved, steps, mean thinking tokens per step, share of capped steps.
Needs the `local` extra (llama.cpp), Docker and the suite images (built on first use).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codescale.agent.loop import AgentConfig  # noqa: E402
from codescale.agent.models.base import ModelConfig  # noqa: E402
from codescale.agent.models.thinking import ThinkingConfig  # noqa: E402
from codescale.agent.rollout import RolloutConfig, run_rollout  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budgets", default="0,32,128", help="thinking caps in tokens, comma-separated")
    parser.add_argument("--tasks", type=int, default=0, help="only the first N bundled tasks (0: all)")
    parser.add_argument("--steps", type=int, default=10, help="step limit per rollout")
    parser.add_argument("--model", default="local/qwen2.5-coder-0.5b")
    parser.add_argument("--base-image", default=None, help="base of the task images (default: eval.tasks.images.base_image)")
    args = parser.parse_args()

    from codescale.agent.models.local.server import LocalServer
    from codescale.eval.tasks.grading import grade_patches
    from codescale.eval.tasks.kinds import ensure_images
    from codescale.eval.tasks.load import load_tasks

    tasks = load_tasks(base_image=args.base_image)
    tasks = tasks[: args.tasks] if args.tasks else tasks
    ensure_images(tasks)
    print("| thinking cap | tasks | resolved | steps | thinking tokens / step | capped steps |")
    print("|---|---|---|---|---|---|")
    with LocalServer(args.model.split("/", 1)[1]) as server, tempfile.TemporaryDirectory() as tmp:
        for budget in [int(b) for b in args.budgets.split(",")]:
            config = RolloutConfig(
                model=ModelConfig(id=args.model, base_url=server.base_url, max_tokens=512, timeout=300),
                sandbox={"kind": "docker"},
                agent=AgentConfig(step_limit=args.steps, thinking=ThinkingConfig(max_tokens=budget)),
            )
            patches, steps = [], []
            for task in tasks:
                out = Path(tmp) / str(budget) / task.instance_id
                traj = run_rollout(task, config, run_id="bench-thinking", rollout_id="r0", task_dir=out)
                steps += traj.steps
                patches.append((task, traj.patch))
            resolved = sum(g.resolved for g in grade_patches(patches, Path(tmp) / str(budget) / "grading"))
            thinking = statistics.mean(s.usage.thinking_tokens for s in steps) if steps else 0.0
            capped = sum(s.capped for s in steps) / len(steps) if steps else 0.0
            print(f"| {budget} | {len(tasks)} | {resolved} | {len(steps)} | {thinking:.1f} | {capped:.0%} |", flush=True)


if __name__ == "__main__":
    main()
