"""Per-step cost of the agent loop with a trivial command, against a bare `docker exec` of the same command.

    python tests/benchmarks/bench_step_overhead.py [--steps 50] [--repeats 3] [--also PYTHON]

Runs one rollout of `--steps` steps (`true`, then submit) against the fake model server (no latency) in the local
sandbox and in the Docker sandbox (its default shell, and each shell by name), and, in the same process, a bare
`docker exec` of `bash -c true` into a container made with the sandbox's settings (exec_create, exec_start read to
its end, exec_inspect until it reports the exit code: what one command cost the sandbox before it had a session),
alternating with the rollouts. Per step: the wall time from one step's start to the next (the model call, the
command, the trajectory saved, the bookkeeping), split into model call, command and the rest. The first step
(connection set-up) and the submit step (it diffs) are left out. Each measurement is a child process; `--also
PYTHON` measures another installation of codescale (e.g. a checkout of the main branch) in the same run, and
bench_concurrent.py calls `step_figures` to print the same figure beside its own.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for conftest and fake_server

SHELLS = ["default", "session", "exec"]


def responder(steps: int):
    def respond(body: dict) -> str:
        turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
        return "Thinking.\n```bash\n" + ("true" if turn < steps - 1 else "echo CODESCALE_SUBMIT") + "\n```"

    return respond


def rollout_steps(task, sandbox: dict, steps: int, out: Path) -> dict[str, float]:
    """One rollout of `steps` steps; medians per step, milliseconds."""
    from fake_server import FakeServer

    from codescale.agent.loop import AgentConfig
    from codescale.agent.models.base import ModelConfig
    from codescale.agent.rollout import RolloutConfig, run_rollout

    with FakeServer(responder=responder(steps)) as server:
        config = RolloutConfig(model=ModelConfig(id="openai/fake", base_url=server.openai_url), sandbox=sandbox,
                               agent=AgentConfig(step_limit=steps + 1))
        traj = run_rollout(task, config, run_id="bench-step", rollout_id=f"r{time.monotonic_ns()}", task_dir=out)
    assert traj.exit_status == "submitted", traj.error
    # A step's wall time runs from its start to the next step's start, so it includes the trajectory save and
    # the limit checks. Leave out the first step (connection set-up) and the submit step (it diffs).
    s = traj.steps
    pairs = list(zip(s[1:-2], s[2:-1]))
    wall = [(b.started_at - a.started_at).total_seconds() for a, b in pairs]
    return {
        "step": statistics.median(wall) * 1000,
        "model": statistics.median(a.model_seconds for a, _ in pairs) * 1000,
        "command": statistics.median(a.command_seconds for a, _ in pairs) * 1000,
        "overhead": statistics.median(w - a.model_seconds - a.command_seconds for w, (a, _) in zip(wall, pairs)) * 1000,
        "submit": s[-1].seconds * 1000,
    }


def bare_exec(client, image: str, count: int) -> float:
    """Median milliseconds of a bare `docker exec` of `bash -c true` in a container with the sandbox's settings."""
    from bench_engine_floor import sandbox_settings

    container = client.containers.run(image, **sandbox_settings({"codescale.bench": "step"}))
    try:
        times = []
        for _ in range(count):
            start = time.monotonic()
            exec_id = client.api.exec_create(container.id, ["bash", "-c", "true"])["Id"]
            for _ in client.api.exec_start(exec_id, stream=True):
                pass
            while client.api.exec_inspect(exec_id)["ExitCode"] is None:
                time.sleep(0.005)
            times.append(time.monotonic() - start)
        return statistics.median(times) * 1000
    finally:
        container.remove(force=True)


def child(steps: int, repeats: int) -> None:
    """The figures of this installation of codescale: one JSON line, the medians over `repeats`."""
    import docker
    from conftest import BASE_IMAGE, CALC_FILES, build_repo_image, make_repo

    from codescale.agent.records import Task
    from codescale.sandboxes.lifecycle import settle

    client = docker.from_env()
    rows: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        repo, commit = make_repo(tmp / "calc", CALC_FILES)
        local = Task(instance_id="calc", problem_statement="x", repo_dir=str(repo), base_commit=commit)
        image, commit = build_repo_image(client, CALC_FILES, tmp / "img")
        task = Task(instance_id="calc", problem_statement="x", image=image, base_commit=commit)
        sandboxes = {"local": {"kind": "local"}, "docker": {"kind": "docker"}}
        sandboxes.update({f"docker {shell}": {"kind": "docker", "shell": shell} for shell in SHELLS[1:]})
        rollout_steps(task, sandboxes["docker"], 5, tmp / "o")  # warm up
        for _ in range(repeats):
            rows.setdefault("bare docker exec", []).append({"step": bare_exec(client, image, steps)})
            for name, sandbox in sandboxes.items():
                try:
                    figures = rollout_steps(local if name == "local" else task, sandbox, steps, tmp / "o")
                except Exception as e:  # e.g. an installation without that shell
                    figures = {"error": f"not measured ({type(e).__name__}: {' '.join(str(e).split())[-80:]})"}
                rows.setdefault(name, []).append(figures)
        settle()
        client.images.remove(image, force=True)
    medians = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0] if key != "error"}
               if "error" not in runs[0] else {"error": runs[0]["error"]} for name, runs in rows.items()}
    print(json.dumps(medians))


def step_figures(python: str, steps: int, repeats: int) -> dict[str, dict[str, float]]:
    """`child`'s figures, measured by `python` in a process of its own."""
    done = subprocess.run([python, __file__, "--child", str(steps), str(repeats)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the step child of {python} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def show(label: str, figures: dict[str, dict[str, float]]) -> None:
    bare = figures["bare docker exec"]["step"]
    print(f"{label}: per step, milliseconds (median of the repeats' medians)")
    print(f"  {'':18} {'step':>8} {'model':>8} {'command':>8} {'overhead':>9} {'submit+diff':>12} {'step/exec':>10}")
    for name, r in figures.items():
        if "error" in r:
            print(f"  {name:18} {r['error']}")
            continue
        cells = [r.get(k) for k in ("step", "model", "command", "overhead", "submit")]
        text = " ".join(f"{c:>8.2f}" if c is not None else f"{'':>8}" for c in cells[:4])
        submit = f"{cells[4]:>12.2f}" if cells[4] is not None else f"{'':>12}"
        print(f"  {name:18} {text} {submit} {r['step'] / bare:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--also", action="append", default=[], help="another python with codescale, measured alongside")
    args = parser.parse_args()
    print(f"{args.steps} steps per rollout (fake model server, no latency; command `true`), {args.repeats} repeats")
    for label, python in {"this": sys.executable, **{f"also{i + 1}": p for i, p in enumerate(args.also)}}.items():
        show(f"{label} ({python})", step_figures(python, args.steps, args.repeats))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
