"""PDR's refined generation: how long after generation 0 its rollouts make their first model call and run their first
command, and how long they wait for their containers, with containers started ahead and without, side by side.

    python tests/benchmarks/bench_warm.py [--n 8] [--latency 0.5] [--steps 2] [--repeats 3] [--also PYTHON]

One bundled task in real Docker, `pdr` with one refined generation of N rollouts, all N at once; the agent calls
take `--latency` s each (`--steps` per rollout), the summarizer's and the judge's none. Each measurement is a fresh
child process (`run_task`, as `codescale run` calls it). From the trajectories: the end of generation 0 (the end of
its last rollout's last step), each refined rollout's first model call and first command (the call's end plus the
wait for its container), and that wait (the first step's time outside its model call and command). Rows: this
installation with `sandbox.warm_limit` 0 (every refined rollout starts its container when it starts) and N (all
started while generation 0 runs); `--also PYTHON` another installation (e.g. a checkout of the main branch) at its
defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fake_server

TASK = "codescale__thermo-1"


def child(url: str, out: str, base_image: str, n: int, overrides: list[str]) -> None:
    """One PDR run of TASK; prints one JSON line of figures (seconds)."""
    from codescale.agent.models.base import Model, ModelConfig
    from codescale.agent.records import Trajectory
    from codescale.eval.runs.config import load_config
    from codescale.eval.runs.launch import run_task
    from codescale.eval.tasks.load import load_tasks
    from codescale.sandboxes.lifecycle import settle

    Model(ModelConfig(id="openai/fake", base_url=url))  # imports once, not measured
    task = load_tasks(TASK, base_image=base_image)[0]
    config = load_config([f"scaling.n={n}", f"scaling.concurrency={n}", "scaling.pdr.k=2", "scaling.pdr.generations=1",
                          *overrides], {"model.id": "openai/fake", "model.base_url": url}, strategy="pdr")
    result = run_task(task, config, Path(out), say=lambda _: None)
    settle()
    trajs = {p.name.split(".")[0]: Trajectory.load(p) for p in Path(out, "tasks", TASK).glob("*.traj.json")}
    assert len(trajs) == 2 * n and all(t.exit_status == "submitted" for t in trajs.values()), result.exit_statuses
    end = max(t.steps[-1].started_at.timestamp() + t.steps[-1].seconds for t in trajs.values() if t.generation == 0)
    refined = [t.steps[0] for t in trajs.values() if t.generation == 1]
    waits = [s.seconds - s.model_seconds - s.command_seconds for s in refined]
    calls = [s.started_at.timestamp() - end for s in refined]
    commands = [call + s.model_seconds + wait for call, s, wait in zip(calls, refined, waits)]
    print(json.dumps({"first_call": min(calls), "first_command": min(commands), "command_median": statistics.median(commands),
                      "wait_median": statistics.median(waits), "wait_max": max(waits)}))


def measure(python: str, url: str, base_image: str, n: int, overrides: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([python, __file__, "--child", url, out, base_image, str(n), *overrides],
                              capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the child ({python} {overrides}) failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    from fake_server import FakeServer
    from scaling_script import ScalingScript
    from scripted_batch import scripted_options

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scripted_options(parser, n=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--also", action="append", default=[], help="another python with codescale, measured alongside")
    args = parser.parse_args()

    from codescale.eval.tasks.kinds import ensure_image
    from codescale.eval.tasks.load import load_tasks

    ensure_image(load_tasks(TASK, base_image=args.base_image)[0])
    commands = {"edit": [f"echo {i} >> notes.txt" for i in range(args.steps - 1)]}

    def respond(body: dict):
        if not body["messages"][0]["content"].startswith(("You review", "You summarize")):
            time.sleep(args.latency)
        return script(body)

    rows = {f"warm_limit=0": (sys.executable, ["sandbox.warm_limit=0"]),
            f"warm_limit={args.n}": (sys.executable, [f"sandbox.warm_limit={args.n}"]),
            **{f"also{i + 1}": (python, []) for i, python in enumerate(args.also)}}
    print(f"{TASK}: pdr, N={args.n} rollouts per generation at once, {args.steps} agent calls x {args.latency} s; "
          f"{os.cpu_count()} cores; median of {args.repeats} runs per row, seconds from the end of generation 0")
    for label, (python, _) in rows.items():
        print(f"{label}: {python}")
    print(f"{'':>14} {'first call':>11} {'first command':>14} {'commands (median)':>18} {'wait (median)':>14} {'wait (max)':>11}")
    figures: dict[str, list[dict]] = {label: [] for label in rows}
    with FakeServer(responder=respond) as server:
        for _ in range(args.repeats):
            for label, (python, overrides) in rows.items():
                script = ScalingScript(["edit"] * (2 * args.n), commands)
                figures[label].append(measure(python, server.openai_url, args.base_image, args.n, overrides))
    keys = ("first_call", "first_command", "command_median", "wait_median", "wait_max")
    for label, runs in figures.items():
        cells = [statistics.median(r[k] for r in runs) for k in keys]
        print(f"{label:>14} {cells[0]:>11.3f} {cells[1]:>14.3f} {cells[2]:>18.3f} {cells[3]:>14.3f} {cells[4]:>11.3f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6:])
    else:
        main()
