"""Wall time of one codescale rollout against one mini-swe-agent run, same task, same scripted server, side by side.

    python tests/benchmarks/bench_vs_mswea.py --mswea-python VENV/bin/python [--latency 0.5] [--steps 2] [--repeats 3]
        [--also PYTHON]

mini-swe-agent runs from its own virtual environment (`pip install mini-swe-agent mcp` there; it is not a
dependency of codescale): its Docker environment and its text-based LiteLLM model class against the same
fake OpenAI-compatible server, which runs in this process and sleeps `--latency` seconds per call. Both
agents make `--steps` calls: `--steps - 1` commands, then the submission (mini-swe-agent submits with its
sentinel, `git add -A` and `git diff --cached` in one command, as its SWE-bench config does; codescale
submits and then diffs). Each run is a fresh child process and times the rollout only (imports excluded):
codescale from `run_rollout` to its container removed; mini-swe-agent from its container start to the end
of `agent.run` (it removes its container in a detached `docker stop`, which it does not wait for). Both
containers run without a network. The pairs alternate, and the ratio is the median over the pairs. `--also PYTHON`
measures another installation of codescale (e.g. a checkout of the main branch) in the same run, beside each pair.
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
MSWEA_BLOCK = "mswea_bash_command"
MSWEA_SUBMIT = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git add -A && git diff --cached"


def codescale_child(url: str, image: str, commit: str) -> None:
    """One codescale rollout of TASK (imports done first); prints {"wall": seconds}."""
    from codescale.agent.loop import AgentConfig
    from codescale.agent.models.base import Model, ModelConfig
    from codescale.agent.records import Task
    from codescale.agent.rollout import RolloutConfig, run_rollout
    from codescale.sandboxes.docker import DockerSandbox, DockerSandboxConfig
    from codescale.sandboxes.lifecycle import settle

    model = ModelConfig(id="openai/fake", base_url=url)
    Model(model)
    DockerSandbox.check(DockerSandboxConfig(), image=image)
    config = RolloutConfig(model=model, sandbox={"kind": "docker"}, agent=AgentConfig(step_limit=20))
    task = Task(instance_id=TASK, problem_statement="Fix the conversion.", image=image, base_commit=commit)
    with tempfile.TemporaryDirectory() as out:
        start = time.monotonic()
        traj = run_rollout(task, config, run_id="bench-vs-mswea", rollout_id="r0", task_dir=Path(out))
        returned = time.monotonic() - start
        settle()
        wall = time.monotonic() - start
    assert traj.exit_status == "submitted", traj.error
    print(json.dumps({"wall": wall, "returned": returned}))


def mswea_child(url: str, image: str) -> None:
    """One mini-swe-agent run of TASK in its Docker environment; prints {"wall": seconds}."""
    import yaml
    from minisweagent import package_dir
    from minisweagent.agents.default import DefaultAgent
    from minisweagent.environments.docker import DockerEnvironment
    from minisweagent.models.litellm_textbased_model import LitellmTextbasedModel

    config = yaml.safe_load(Path(package_dir, "config", "mini_textbased.yaml").read_text())
    agent_config = {k: config["agent"][k] for k in ("system_template", "instance_template")}
    model = LitellmTextbasedModel(
        model_name="openai/fake", model_kwargs={"api_base": url, "api_key": "placeholder"},
        cost_tracking="ignore_errors", **{k: v for k, v in config["model"].items() if k != "model_kwargs"},
    )
    start = time.monotonic()
    env = DockerEnvironment(image=image, cwd="/testbed", run_args=["--rm", "--network", "none"])  # as codescale's
    agent = DefaultAgent(model, env, step_limit=20, **agent_config)
    result = agent.run("Fix the conversion.")
    wall = time.monotonic() - start
    env.cleanup()
    assert result.get("exit_status") == "Submitted", result
    print(json.dumps({"wall": wall}))


def measure(argv: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mswea-python", required=True, help="python of a virtual environment with mini-swe-agent")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--base-image", default=os.environ.get("CODESCALE_BASE_IMAGE", "codescale/base:bookworm"))
    parser.add_argument("--also", action="append", default=[], help="another python with codescale, measured alongside")
    args = parser.parse_args()

    from fake_server import FakeServer

    from codescale.eval.tasks.kinds import ensure_image
    from codescale.eval.tasks.load import load_tasks

    task = load_tasks(TASK, base_image=args.base_image)[0]
    ensure_image(task)

    def responder(body):
        time.sleep(args.latency)
        step = (len(body["messages"]) - 2) // 2
        mswea = MSWEA_BLOCK in body["messages"][0]["content"]
        submit = step >= args.steps - 1
        command = (MSWEA_SUBMIT if mswea else "echo CODESCALE_SUBMIT") if submit else f"echo step {step}"
        return f"THOUGHT: step {step}.\n\n```{MSWEA_BLOCK if mswea else 'bash'}\n{command}\n```"

    mswea_env = {**os.environ, "MSWEA_CONFIGURED": "true", "MSWEA_COST_TRACKING": "ignore_errors",
                 "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    print(f"{TASK}: one rollout, {args.steps} calls x {args.latency} s; {os.cpu_count()} cores; "
          f"median of {args.repeats} side-by-side pairs (seconds)")
    print("codescale: until its container is removed (in brackets: until run_rollout returned, removal pending)")
    pythons = {"this": sys.executable, **{f"also{i + 1}": py for i, py in enumerate(args.also)}}
    for label, python in list(pythons.items())[1:]:
        print(f"{label}: {python}")
    print(f"{'python':>6} {'codescale':>17} {'mini-swe-agent':>15} {'ratio':>6}")
    ratios: dict[str, list[float]] = {label: [] for label in pythons}
    with FakeServer(responder=responder) as server:
        ours = {label: [python, __file__, "--codescale-child", server.openai_url, task.image, task.base_commit]
                for label, python in pythons.items()}
        theirs = [args.mswea_python, __file__, "--mswea-child", server.openai_url, task.image]
        measure(ours["this"]), measure(theirs, mswea_env)  # warm up both
        for _ in range(args.repeats):
            b = measure(theirs, mswea_env)
            for label, argv in ours.items():
                a = measure(argv)
                ratios[label].append(a["wall"] / b["wall"])
                print(f"{label:>6} {a['wall']:>8.2f} ({a['returned']:>5.2f}) {b['wall']:>15.2f} {ratios[label][-1]:>6.2f}")
    for label, values in ratios.items():
        print(f"{label}: codescale / mini-swe-agent: median {statistics.median(values):.2f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--codescale-child"]:
        codescale_child(*sys.argv[2:5])
    elif sys.argv[1:2] == ["--mswea-child"]:
        mswea_child(*sys.argv[2:4])
    else:
        main()
