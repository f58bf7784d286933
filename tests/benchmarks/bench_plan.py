"""`codescale plan` against a scripted run of the same configuration at a small scale: the counts of rollouts,
summaries, judge votes and judge requests the fake server saw, next to the plan's, n-batched and one vote per
request; then the plan of the paper's configuration over 500 tasks for a vLLM and an Anthropic model.

    python tests/benchmarks/bench_plan.py [--tasks 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the scripted run

from test_plan import scripted_counts  # noqa: E402

from codescale.eval.runs.config import load_config  # noqa: E402
from codescale.eval.runs.plan import lines, plan  # noqa: E402

SMALL = ["scaling.n=4", "scaling.pdr.k=2", "scaling.rtv.votes=4"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3)
    args = parser.parse_args()
    print(f"scripted pdr+rtv run, {args.tasks} calc tasks, N=4 K=2 G=2 V=4, every patch distinct, no tie:")
    for label, extra in (("n-batched (openai, vllm)", []), ("one request per vote (anthropic)", ["scaling.judge.batch_votes=false"])):
        with tempfile.TemporaryDirectory() as root:
            measured, planned = scripted_counts(Path(root), args.tasks, SMALL + extra, "pdr+rtv")
        print(f"  {label}:")
        for name in measured:
            print(f"    {name:<15} measured {measured[name]:>5}   plan {planned[name]:>5}   "
                  f"{'equal' if measured[name] == planned[name] else 'DIFFERENT'}")
    for model in ("vllm/Qwen/Qwen3-Coder-30B-A3B-Instruct", "anthropic/claude-sonnet-4-5"):
        print(f"\n$ codescale plan --strategy pdr+rtv --tasks 500 --model {model}")
        print("\n".join(lines(plan(load_config([], {"model.id": model}, strategy="pdr+rtv"), 500))))


if __name__ == "__main__":
    main()
