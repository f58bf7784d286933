"""The demo: the whole pipeline on the embedded local model, no keys, no GPU.

PDR+RTV at small N (configs/demo.yaml) over the easy bundled tasks, in Docker when an engine and the base
image are there and in the local sandbox otherwise; live progress; then every rollout is graded and a table
shows, per task, the rollouts resolved and the RTV pick, and overall pass@1 vs selected vs oracle.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codescale import configs
from codescale.agent.records import Usage
from codescale.eval.runs.batch import BatchOutcome
from codescale.eval.runs.config import ConfigError
from codescale.eval.runs.rundir import RunDir

PRESET = configs.DIR / "demo.yaml"
SECONDS_PER_STEP = 3.0
"""Measured here (2 cores, Qwen2.5-Coder-0.5B): one agent step, model call and command."""
SECONDS_PER_SUMMARY = 15.0
SECONDS_PER_VOTE = 6.0
REFERENCE_SPEED = 19.0
"""Tokens/s that `measure_speed` gave when the figures above were measured; the estimate scales by it."""


def docker_ready(base_image: str) -> str | None:
    """Why Docker cannot be used (no engine, no base image), or None when it can."""
    try:
        import docker

        client = docker.from_env()
        client.ping()
        client.images.get(base_image)
    except Exception as e:  # no engine, no permission, no image: the local sandbox it is
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return None


def measure_speed(base_url: str, model: str) -> float:
    """Tokens per second of one short generation (also warms the server up)."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="codescale-no-key", max_retries=0, timeout=120)
    start = time.monotonic()
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Count from 1 to 40, separated by spaces."}],
        max_tokens=48, temperature=0.0,
    )
    return reply.usage.completion_tokens / max(time.monotonic() - start, 1e-3)


def estimate_seconds(tasks: int, n: int, steps: int, votes: int, speed: float) -> float:
    """Expected wall time of the model work: 2 generations of n rollouts, a summary each, 2 matches of V votes."""
    per_task = 2 * n * (steps * SECONDS_PER_STEP + SECONDS_PER_SUMMARY) + 2 * votes * SECONDS_PER_VOTE
    return tasks * per_task * REFERENCE_SPEED / max(speed, 1.0)


@dataclass
class Demo:
    """What the closing table needs."""

    run_dir: RunDir
    outcome: BatchOutcome
    grades: list
    seconds: float
    usage: Usage
    sandbox: str
    speed: float


def run_demo(*, model: str, task_ids: list[str], n: int | None, sandbox: str | None, out: Path | None,
             config: list[str], live: bool | None, say: Callable[[str], None]) -> Demo:
    """PDR+RTV on the easy bundled tasks (or `task_ids`) with the embedded model, then every rollout graded.

    Bad input raises ConfigError before anything runs; a model server that cannot start raises LocalServerError."""
    from codescale.agent.models.local.package import default_local_model
    from codescale.agent.models.local.server import LocalServer
    from codescale.eval.runs.config import load_config
    from codescale.eval.runs.opening import check_model, open_run
    from codescale.eval.tasks.load import load_tasks

    model = model or f"local/{default_local_model()}"
    tasks = load_tasks(None, ids=task_ids or None)
    if not task_ids:
        tasks = [t for t in tasks if t.difficulty == "easy"]
    kind, why = choose_sandbox(sandbox)
    resolved = load_config([str(PRESET), *config], {"model.id": model, "sandbox.kind": kind, "scaling.n": n},
                           strategy="pdr+rtv")
    check_model(resolved)
    say(why)

    out = out or Path("codescale-demo") / time.strftime("%Y%m%d-%H%M%S")
    server: LocalServer | None = None
    run = open_run(out, resolved, command="demo", overwrite=None, say=say, tasks=[t.instance_id for t in tasks],
                   cleanups=(lambda: server is not None and server.stop(timeout=5),
                             lambda: kind == "docker" and remove_grading_containers(RunDir(out))))
    start = time.monotonic()
    try:
        if resolved.model.provider == "local" and not resolved.model.base_url:
            say(f"starting the local model server for {resolved.model.id} ...")
            server = LocalServer(resolved.model.name).start()
            server.watch(lambda error: run.interrupt(f"{error} (the demo stopped; its run directory: {out})"))
            resolved.model.base_url = server.base_url
        speed = measure_speed(resolved.model.base_url, resolved.model.name) if resolved.model.base_url else REFERENCE_SPEED
        c = resolved.scaling
        expected = estimate_seconds(len(tasks), c.n, resolved.agent.step_limit, c.rtv.votes, speed)
        say(f"{len(tasks)} tasks ({', '.join(t.instance_id for t in tasks)}), strategy pdr+rtv, n={c.n} per generation, "
            f"{resolved.agent.step_limit} steps at most per rollout; model {resolved.model.id} at {speed:.0f} tokens/s: "
            f"expect about {expected / 60:.0f} min, plus grading. Run directory: {out}")
        tasks = prepare(tasks, kind, Path(tempfile.mkdtemp(prefix="codescale-demo-repos-")))
        outcome, usage = batch(tasks, resolved, run.dir, run.run_id, live)
        say("grading every rollout ...")
        grades = grade(run.dir, tasks, kind)
    finally:
        if server is not None:
            server.stop()
    return Demo(run_dir=run.dir, outcome=outcome, grades=grades, seconds=time.monotonic() - start, usage=usage,
                sandbox=kind, speed=speed)


def choose_sandbox(sandbox: str | None) -> tuple[str, str]:
    """The demo's sandbox kind (`sandbox`, else Docker where it can run, else local) and a line saying which and
    why; ConfigError when Docker is asked for and cannot run."""
    from codescale.eval.tasks.images import base_image

    if sandbox not in (None, "docker", "local"):
        raise ConfigError(f"--sandbox {sandbox}: not a sandbox of the demo (docker or local)")
    base = base_image()
    problem = docker_ready(base) if sandbox in (None, "docker") else None
    if sandbox == "docker" and problem:
        raise ConfigError(f"--sandbox docker: Docker cannot run here ({problem})")
    if (sandbox or ("local" if problem else "docker")) == "local":
        return "local", ("sandbox: local, NOT isolated: commands run on this machine in temporary clones"
                         f"{f' (Docker unavailable: {problem})' if problem else ''}")
    from codescale.eval.tasks.grading import require_harness

    require_harness("the demo in Docker (it grades with the harness)")
    return "docker", f"sandbox: docker (base image {base})"


def remove_grading_containers(run_dir) -> None:
    """Remove the swebench harness's containers of this run's patches (named sweb.eval.<id>.<patch run id>)."""
    import docker

    from codescale.agent.files import TaskFiles
    from codescale.agent.records import Trajectory
    from codescale.eval.tasks.grading import run_id_for

    folders = sorted(p for p in (run_dir.path / "tasks").glob("*") if p.is_dir())
    names = {f"sweb.eval.{folder.name.lower()}.{run_id_for(Trajectory.load(path).patch)}"
             for folder in folders for path in TaskFiles(folder).trajectories()}
    client = docker.from_env()
    for container in client.containers.list(all=True, filters={"name": "sweb.eval."}):
        if container.name in names:
            container.remove(force=True)


def prepare(tasks, kind: str, repos: Path):
    """Docker: build the task images; local: write each task's repo as a git repository under `repos`."""
    from codescale.eval.tasks.kinds import ensure_images
    from codescale.eval.tasks.local_suite import local_repo

    if kind == "docker":
        ensure_images(tasks)
        return tasks
    return [local_repo(task, repos) for task in tasks]


def batch(tasks, resolved, run_dir, run_id: str, live: bool | None):
    """The batch runner over `tasks`, one task at a time, with the live display; (outcome, usage)."""
    from codescale.eval.runs.batch import BatchConfig, run_batch
    from codescale.eval.runs.budget import Meter
    from codescale.eval.runs.progress import make_progress

    settings = BatchConfig(workers=1)
    with Meter(settings.budget, run_dir.ledger_path) as meter:
        with make_progress(len(tasks), 0, lambda: meter.total, live) as progress:
            outcome = run_batch(list(tasks), resolved, run_dir, run_id, settings, meter, progress)
        return outcome, meter.total


def grade(run_dir, tasks, kind: str):
    """Every rollout's grade: the swebench harness in Docker, or the tests run locally."""
    if kind == "docker":
        from codescale.eval.runs.evaluate import evaluate

        return evaluate(run_dir.path, all_candidates=True)
    return grade_local(run_dir, {t.instance_id: t for t in tasks})


def grade_local(run_dir, tasks):
    from codescale.eval.tasks.grading import CandidateGrade, TaskGrade
    from codescale.eval.tasks.local_suite import grade_locally

    grades = []
    for result in run_dir.results().values():
        task = tasks[result.instance_id]
        row = TaskGrade(instance_id=task.instance_id, final_rollout=result.final_rollout,
                        **grade_locally(task, result.final_patch).model_dump())
        for generation, ids in enumerate(result.rollouts):
            for rollout_id in ids:
                traj = run_dir.trajectory(task.instance_id, rollout_id)
                patch = traj.patch if traj is not None else ""
                row.candidates.append(CandidateGrade(rollout_id=rollout_id, generation=generation,
                                                     **grade_locally(task, patch).model_dump()))
        row.passed, row.total = sum(c.resolved for c in row.candidates), len(row.candidates)
        grades.append(row)
    run_dir.write_grades(grades)
    return grades
