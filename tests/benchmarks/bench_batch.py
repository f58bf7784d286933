"""Wall time of a batch run with --workers 1 vs --workers W, against the ideal (total model time / parallelism).

    python tests/benchmarks/bench_batch.py [--tasks 12] [--n 8] [--latency 0.5] [--steps 2] [--workers 4]

The bundled suite in real Docker, `best_of_n` with N rollouts per task (no judge, no summaries), one rollout
of a task at a time (scaling.concurrency = 1), so that the parallelism is the number of workers. The fake
server sleeps `--latency` seconds per call; each rollout makes `--steps` calls (`--steps - 1` commands, then
the submission). Total model time = tasks x N x steps x latency; the ideal wall time is that over the
parallelism. What a run spends besides (container start and removal, `docker exec`, process start-up) shows
as the gap to the ideal.
"""

from __future__ import annotations

import argparse
import os

from scripted_batch import scripted_options, timed_batch  # the benchmarks' folder is first on sys.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scripted_options(parser, tasks=12, n=8)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    model_time = args.tasks * args.n * args.steps * args.latency
    print(f"{args.tasks} tasks x N={args.n} rollouts x {args.steps} calls x {args.latency} s latency: "
          f"total model time {model_time:.1f} s; {os.cpu_count()} cores")
    print(f"{'workers':>8} {'wall s':>8} {'ideal s':>8} {'wall/ideal':>10}")
    walls = {}
    for workers in (1, args.workers):
        walls[workers] = timed_batch(args.tasks, args.n, args.latency, args.steps, args.base_image,
                                     ["-c", "scaling.concurrency=1", "--workers", str(workers)])
        ideal = model_time / workers
        print(f"{workers:>8} {walls[workers]:>8.1f} {ideal:>8.1f} {walls[workers] / ideal:>10.2f}")
    print(f"speed-up with {args.workers} workers: {walls[1] / walls[args.workers]:.2f}x (ideal {args.workers}x)")


if __name__ == "__main__":
    main()
