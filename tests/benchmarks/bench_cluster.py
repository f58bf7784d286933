"""Wall time of one batch with the local thread pool vs on a Ray cluster of worker nodes on this machine.

    python tests/benchmarks/bench_cluster.py [--tasks 12] [--n 8] [--latency 0.5] [--steps 2] [--slots 8]

The bundled suite in real Docker, `best_of_n` with N rollouts per task (no judge, no summaries). Both runs have
`--slots` rollouts in flight: locally `--workers slots/2` tasks x 2 rollouts each; on the cluster the same, on
two worker nodes of slots/2 Docker slots each (the head offers none). The fake server sleeps `--latency` s per
call; each rollout makes `--steps` calls. Per-rollout overhead = (wall x slots - model time) / rollouts: the
slot-seconds a rollout costs beyond waiting for the model (container start and removal, exec, scheduling). The
cluster is started before its run is timed; the run's own joining of it is part of its wall time.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for ray_cluster

from ray_cluster import RayCluster  # noqa: E402
from scripted_batch import scripted_options, timed_batch  # noqa: E402


def run(args, extra: list[str]) -> float:
    return timed_batch(args.tasks, args.n, args.latency, args.steps, args.base_image,
                       ["-c", "scaling.concurrency=2", "--workers", str(args.slots // 2), *extra])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scripted_options(parser, tasks=12, n=8)
    parser.add_argument("--slots", type=int, default=8)
    args = parser.parse_args()
    rollouts = args.tasks * args.n
    model_time = rollouts * args.steps * args.latency
    print(f"{args.tasks} tasks x N={args.n} = {rollouts} rollouts x {args.steps} calls x {args.latency} s: model time "
          f"{model_time:.0f} s; {args.slots} rollouts in flight (ideal {model_time / args.slots:.1f} s); "
          f"{os.cpu_count()} cores")
    run(args, [])  # builds the task images once, outside the timing
    walls = {"local threads": run(args, [])}
    with RayCluster(workers=2, slots=args.slots // 2) as cluster:
        walls["ray, 2 nodes"] = run(args, ["--ray", cluster.address])
    print(f"{'engine':>14} {'wall s':>8} {'overhead s/rollout':>19}")
    for name, wall in walls.items():
        print(f"{name:>14} {wall:>8.1f} {(wall * args.slots - model_time) / rollouts:>19.2f}")


if __name__ == "__main__":
    main()
