"""What the Docker engine itself costs per rollout, and the least wall time N concurrent rollouts can take here.

    python tests/benchmarks/bench_engine_floor.py [--n 16] [--latency 0.5] [--steps 2] [--repeats 3]

Starts N containers at once with the sandbox's own settings, runs one exec in each, removes them, and measures
each phase's wall time and the CPU time the whole machine spent on it (from /proc/stat: the engine, its shims,
runc and the kernel), per container. Nothing of codescale runs besides the Docker calls, so these are the
engine's costs, not ours.

From them, a lower bound for N concurrent rollouts of `--steps` model calls of `--latency` s (the shape of
bench_concurrent.py): the last of N containers cannot be running before N starts' CPU time has been spent on
this machine's cores; its rollout then still has its commands, its remaining model calls, its diff and its
removal ahead. Whatever a framework does around the engine, wall(N) / wall(1) <= `--target` then needs one
rollout to take at least that bound / target; the script prints both. The engine floor of N rollouts at once
(`floor`: the wall time of N starts, then N removals, at once) is what bench_concurrent.py sets their cost against.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

LABEL = {"codescale.bench": "engine-floor"}


def busy() -> float:
    """CPU-seconds the machine has spent not idle (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        values = list(map(int, f.readline().split()[1:]))
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def phase(pool: ThreadPoolExecutor, fn, items) -> tuple[list, float, float]:
    """Run fn over items in the pool; (results, wall seconds, CPU-seconds of the machine)."""
    cpu, start = busy(), time.monotonic()
    results = list(pool.map(fn, items))
    return results, time.monotonic() - start, busy() - cpu


def sandbox_settings(labels: dict[str, str]) -> dict:
    """The `containers.run` arguments of a container with the Docker sandbox's default settings."""
    from codescale.sandboxes.docker_config import DockerSandboxConfig, lockdown

    config = DockerSandboxConfig()
    return dict(command=config.start_command, detach=True, labels=labels, mem_limit=config.memory,
                memswap_limit=config.memory, nano_cpus=int(config.cpus * 1e9), pids_limit=config.pids_limit,
                network_mode=config.network, init=config.init, **lockdown(config))


def measure(client, image: str, n: int) -> dict[str, tuple[float, float]]:
    """Per phase (start, exec, removal) of N containers at once: (wall seconds for all N, CPU-seconds each)."""
    settings = sandbox_settings(LABEL)

    def run_one(container) -> None:
        exec_id = client.api.exec_create(container.id, ["bash", "-c", "git --version >/dev/null"])["Id"]
        client.api.exec_start(exec_id)
        while client.api.exec_inspect(exec_id)["Running"]:
            time.sleep(0.02)

    with ThreadPoolExecutor(n) as pool:
        try:
            containers, start_wall, start_cpu = phase(pool, lambda _: client.containers.run(image, **settings), range(n))
            _, exec_wall, exec_cpu = phase(pool, run_one, containers)
            _, remove_wall, remove_cpu = phase(pool, lambda c: client.api.remove_container(c.id, force=True), containers)
        finally:  # a failed phase leaves no container behind
            for left in client.api.containers(all=True, quiet=True, filters={"label": "codescale.bench=engine-floor"}):
                client.api.remove_container(left["Id"], force=True)
    return {"start": (start_wall, start_cpu / n), "exec": (exec_wall, exec_cpu / n), "removal": (remove_wall, remove_cpu / n)}


def floor(client, image: str, n: int) -> float:
    """The engine's floor for N rollouts at once: the wall seconds of N containers started, then removed, at once."""
    phases = measure(client, image, n)
    return phases["start"][0] + phases["removal"][0]


def main() -> None:
    from scripted_batch import scripted_options

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scripted_options(parser, n=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target", type=float, default=1.3, help="a wall(N) / wall(1) to check against")
    args = parser.parse_args()
    from codescale.sandboxes.docker_engine import shared_client

    client = shared_client()  # the sandboxes' own client
    cores = os.cpu_count() or 1
    print(f"{args.n} containers at once on {cores} cores, image {args.base_image}; median of {args.repeats}")
    print(f"{'phase':>8} {'wall s (all N)':>15} {'CPU-s each':>11}")
    runs = [measure(client, args.base_image, args.n) for _ in range(args.repeats)]
    figures = {name: (statistics.median(r[name][0] for r in runs), statistics.median(r[name][1] for r in runs))
               for name in runs[0]}
    for name, (wall, cpu) in figures.items():
        print(f"{name:>8} {wall:>15.2f} {cpu:>11.3f}")
    print(f"engine floor of {args.n} rollouts at once (start + removal): {figures['start'][0] + figures['removal'][0]:.2f} s")

    start_cpu, exec_cpu, remove_cpu = (figures[name][1] for name in ("start", "exec", "removal"))
    commands = args.steps - 1  # the bare submit runs no exec; the diff is one
    last_ready = args.n * start_cpu / cores
    floor_n = max(last_ready, args.latency) + commands * exec_cpu + (args.steps - 1) * args.latency + exec_cpu + remove_cpu
    print(f"the last container runs after >= {last_ready:.2f} s (N starts x {start_cpu:.3f} CPU-s / {cores} cores)")
    print(f"least wall time of N rollouts: {floor_n:.2f} s; wall(N) / wall(1) <= {args.target} needs one rollout to "
          f"take >= {floor_n / args.target:.2f} s (its model time alone: {args.steps * args.latency:.2f} s)")


if __name__ == "__main__":
    main()
