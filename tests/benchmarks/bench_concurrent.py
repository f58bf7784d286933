"""Wall time of 16 concurrent rollouts of one task against one rollout and against the engine's own floor, and the
cost of one agent step against a bare `docker exec`, side by side in one run.

    python tests/benchmarks/bench_concurrent.py [--n 16] [--latency 0.5] [--steps 2] [--repeats 3] [--also PYTHON]

One bundled task in real Docker, `best_of_n` with scaling.n = scaling.concurrency = N (and N = 1 for the single
rollout). The fake model server runs in this process and sleeps `--latency` seconds per call; each rollout makes
`--steps` calls (`--steps - 1` commands, then the submission), so every rollout spends the same model time. Each
measurement runs in a fresh child process (`run_task`, as `codescale run` calls it, plus the wait for background
container removals that the command does before it exits; interpreter start-up and imports are left out). The pairs
alternate 1, N, 1, N, ... so that both see the same load; the ratio is the median over the pairs. Per rollout, the
child times where the time went: model calls and commands (from the trajectories), the container start (in the
background while the first model call runs), the part of it the rollout still waited for (at its first command, or
before its first model call where its source is checked), the diff, the removal (in the background) and the rest.
Before each pair, the engine floor of N rollouts (bench_engine_floor.py: N containers with the sandbox's settings
started, then removed, at once; no codescale) is measured too: (wall(N) - wall(1)) / floor is what N rollouts cost
beyond one, in units of what the engine alone needs for their containers. At the end, bench_step_overhead.py's
per-step figure (a trivial command, no model latency) against a bare `docker exec` of it. `--also PYTHON` measures
another installation of codescale (e.g. a checkout of the main branch) in the same run, pair by pair.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fake_server

TASK = "codescale__thermo-1"


class Timers:
    """Seconds spent in named sandbox methods, summed per name (any thread)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def wrap(self, cls: type, method: str, name: str) -> None:
        original = getattr(cls, method, None)
        if original is None:
            return

        def timed(*args, **kwargs):
            start = time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                with self._lock:
                    self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - start

        setattr(cls, method, timed)


def child(n: int, url: str, out: str, base_image: str) -> None:
    """One measurement: N rollouts of TASK; prints one JSON line of figures."""
    from codescale.agent.models.base import ModelConfig
    from codescale.agent.records import Trajectory
    from codescale.eval.runs.config import load_config
    from codescale.eval.runs.launch import run_task
    from codescale.eval.tasks.load import load_tasks
    from codescale.agent.models.base import Model
    from codescale.sandboxes import docker as docker_sandbox

    try:
        from codescale.sandboxes.lifecycle import settle
    except ImportError:  # an engine without background removals
        settle = None
    Model(ModelConfig(id="openai/fake", base_url=url))  # imports once per process, not per rollout: not measured
    docker_sandbox.DockerSandbox.check(docker_sandbox.DockerSandboxConfig(), image="")
    timers = Timers()
    box = docker_sandbox.DockerSandbox
    timers.wrap(box, "_create", "start")  # the container start, in the background
    timers.wrap(box, "ready", "wait")  # what the rollout waited for of it at its first command
    timers.wrap(box, "wait_source", "source")  # and before its first model call (its source checked), before the agent
    timers.wrap(box, "__enter__", "start")  # a sandbox that starts in the foreground
    timers.wrap(box, "diff", "diff")
    timers.wrap(box, "_remove", "removal")
    if not hasattr(box, "_remove"):
        timers.wrap(box, "close", "removal")
    task = load_tasks(TASK, base_image=base_image)[0]
    overrides = [f"scaling.n={n}", f"scaling.concurrency={n}", "agent.step_limit=20"]
    config = load_config(overrides, {"model.id": "openai/fake", "model.base_url": url, "scaling.strategy": "best_of_n"})
    cpu, start = time.process_time(), time.monotonic()
    result = run_task(task, config, Path(out))
    solved = time.monotonic() - start
    if settle:
        settle()
    wall = time.monotonic() - start
    trajs = [Trajectory.load(p) for p in Path(out, "tasks", TASK).glob("*.traj.json")]
    assert len(trajs) == n and all(t.exit_status == "submitted" for t in trajs), result.exit_statuses
    figures = {
        "wall": wall,
        "cpu": time.process_time() - cpu,
        "exit_wait": wall - solved,
        "rollout": statistics.mean(t.seconds for t in trajs) + timers.seconds.get("source", 0.0) / n,
        "model": statistics.mean(sum(s.model_seconds for s in t.steps) for t in trajs),
        "command": statistics.mean(sum(s.command_seconds for s in t.steps) for t in trajs),
        **{name: seconds / n for name, seconds in timers.seconds.items()},
    }
    figures["wait"] = figures.get("wait", 0.0) + figures.pop("source", 0.0)
    print(json.dumps(figures))


def measure(n: int, url: str, base_image: str, python: str = sys.executable) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([python, __file__, "--child", str(n), url, out, base_image], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the child with N={n} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def show(label: str, n: int, f: dict[str, float]) -> None:
    start, wait, diff, removal = (f.get(k, 0.0) for k in ("start", "wait", "diff", "removal"))
    other = f["rollout"] - f["model"] - f["command"] - wait - diff
    print(f"{label:>6} {n:>3} {f['wall']:>7.2f} {f.get('cpu', 0.0):>6.2f} {f['exit_wait']:>6.2f} {f['rollout']:>8.2f} {f['model']:>6.2f} "
          f"{f['command']:>8.2f} {start:>6.2f} {wait:>6.2f} {diff:>6.2f} {removal:>8.2f} {other:>6.2f}")


def main() -> None:
    from bench_engine_floor import floor
    from bench_step_overhead import show as show_steps
    from bench_step_overhead import step_figures
    from fake_server import FakeServer
    from scripted_batch import scripted_agent, scripted_options

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scripted_options(parser, n=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--step-count", type=int, default=30, help="steps of the per-step rollout")
    parser.add_argument("--also", action="append", default=[], help="another python with codescale, measured alongside")
    args = parser.parse_args()

    from codescale.eval.tasks.kinds import ensure_image
    from codescale.eval.tasks.load import load_tasks
    from codescale.sandboxes.docker_engine import shared_client

    ensure_image(load_tasks(TASK, base_image=args.base_image)[0])
    client = shared_client()
    responder = scripted_agent(args.latency, args.steps)

    print(f"{TASK}: N={args.n} concurrent rollouts vs 1; {args.steps} calls x {args.latency} s per rollout; "
          f"{os.cpu_count()} cores; median of {args.repeats} side-by-side pairs")
    print("seconds; per rollout (mean): rollout = its wall time; start = container start (background), "
          "wait = what the rollout waited for it; removal runs in the background; exit = the wait for removals at exit; "
          "cpu = CPU-s of the process running the rollouts (all of them); floor = the engine's floor for N")
    pythons = {"this": sys.executable, **{f"also{i + 1}": py for i, py in enumerate(args.also)}}
    for label, python in list(pythons.items())[1:]:
        print(f"{label}: {python}")
    print(f"{'python':>6} {'N':>3} {'wall':>7} {'cpu':>6} {'exit':>6} {'rollout':>8} {'model':>6} {'command':>8} {'start':>6} {'wait':>6} "
          f"{'diff':>6} {'removal':>8} {'other':>6}")
    ratios: dict[str, list[float]] = {label: [] for label in pythons}
    floors: dict[str, list[float]] = {label: [] for label in pythons}
    walls: dict[str, list[tuple[float, float]]] = {label: [] for label in pythons}
    with FakeServer(responder=responder) as server:
        measure(1, server.openai_url, args.base_image)  # warm the engine and the page cache
        for _ in range(args.repeats):
            for label, python in pythons.items():
                engine = floor(client, args.base_image, args.n)
                print(f"{'floor':>6} {args.n:>3} {engine:>7.2f}")
                one = measure(1, server.openai_url, args.base_image, python)
                show(label, 1, one)
                many = measure(args.n, server.openai_url, args.base_image, python)
                show(label, args.n, many)
                ratios[label].append(many["wall"] / one["wall"])
                floors[label].append((many["wall"] - one["wall"]) / engine)
                walls[label].append((one["wall"], many["wall"], engine))
    for label in pythons:
        one, many, engine = (statistics.median(w[i] for w in walls[label]) for i in range(3))
        print(f"{label}: floor({args.n}) {engine:.2f} s, wall(1) {one:.2f} s, wall({args.n}) {many:.2f} s (medians); "
              f"(wall({args.n}) - wall(1)) / floor: {', '.join(f'{r:.2f}' for r in floors[label])}, median "
              f"{statistics.median(floors[label]):.2f}; wall({args.n}) / wall(1): median {statistics.median(ratios[label]):.2f}")
    for label, python in pythons.items():
        show_steps(f"{label}, per agent step", step_figures(python, args.step_count, args.repeats))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        main()
