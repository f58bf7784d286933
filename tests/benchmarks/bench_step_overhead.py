"""Per-step overhead of the agent loop: the time of a step outside the model call and the command.

Runs one rollout of STEPS steps (`true`, then submit) against the fake model server (no latency) in each
sandbox, and prints, per step, the wall time split into model call, command, and framework overhead
(prompt rendering, parsing, trajectory save, bookkeeping). The submit step also diffs the work tree.

    python tests/benchmarks/bench_step_overhead.py [STEPS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import CALC_FILES, build_repo_image, make_repo  # noqa: E402
from fake_server import FakeServer  # noqa: E402

from codescale.agent.loop import AgentConfig  # noqa: E402
from codescale.agent.models.base import ModelConfig  # noqa: E402
from codescale.agent.records import Task  # noqa: E402
from codescale.agent.rollout import RolloutConfig, run_rollout  # noqa: E402


def responder(steps: int):
    def respond(body: dict) -> str:
        turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
        return "Thinking.\n```bash\n" + ("true" if turn < steps - 1 else "echo CODESCALE_SUBMIT") + "\n```"

    return respond


def measure(task: Task, kind: str, steps: int, out: Path) -> dict[str, float]:
    with FakeServer(responder=responder(steps)) as server:
        config = RolloutConfig(
            model=ModelConfig(id="openai/fake", base_url=server.openai_url),
            sandbox={"kind": kind},
            agent=AgentConfig(step_limit=steps + 1),
        )
        traj = run_rollout(task, config, run_id="bench", rollout_id=kind, task_dir=out)
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


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        repo, commit = make_repo(tmp / "calc", CALC_FILES)
        rows = {"local": measure(Task(instance_id="calc", problem_statement="x", repo_dir=str(repo), base_commit=commit), "local", steps, tmp / "o")}
        try:
            import docker

            image, commit = build_repo_image(docker.from_env(), CALC_FILES, tmp / "img")
            rows["docker"] = measure(Task(instance_id="calc", problem_statement="x", image=image, base_commit=commit), "docker", steps, tmp / "o")
        except Exception as e:  # no engine here
            print(f"docker: skipped ({e})")
    print(f"median per step over {steps - 3} steps, milliseconds (fake model server, no latency; command `true`)")
    print(f"{'sandbox':8} {'step':>8} {'model':>8} {'command':>8} {'overhead':>9} {'submit+diff':>12}")
    for kind, r in rows.items():
        print(f"{kind:8} {r['step']:8.2f} {r['model']:8.2f} {r['command']:8.2f} {r['overhead']:9.2f} {r['submit']:12.2f}")


if __name__ == "__main__":
    main()
