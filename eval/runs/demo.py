"""The demo: the whole pipeline on the embedded local model, no keys, no GPU.

PDR+RTV at small N (configs/demo.yaml) over the easy bundled tasks, in Docker (its base image made first when it is
missing: pulled and extended where a registry answers, else made with debootstrap); the local sandbox, which is not
isolated, only when asked for with `--sandbox local`. The agent's replies are held to the wire format by a llama.cpp
grammar (configs/demo.yaml, sent in the request's `grammar` field); the summarizer and the judge write free text.
Live progress; then every rollout is graded and a table shows, per task, the rollouts resolved and the RTV pick, and
overall pass@1 vs selected vs oracle.
"""

from __future__ import annotations

import os
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


def docker_problem() -> str | None:
    """Why no Docker engine can be used here (none answers, no permission), or None when one can."""
    try:
        import docker

        docker.from_env().ping()
    except Exception as e:  # no SDK, no engine, no permission
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return None


def present(image: str) -> bool:
    import docker

    from codescale.eval.tasks.images import image_exists

    return image_exists(docker.from_env(), image)


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
             config: list[str], live: bool | None, say: Callable[[str], None], base_image: str | None = None) -> Demo:
    """PDR+RTV on the easy bundled tasks (or `task_ids`) with the embedded model, then every rollout graded.

    Bad input raises ConfigError before anything runs; a model server that cannot start raises LocalServerError."""
    from codescale.agent.models.local.package import default_local_model
    from codescale.agent.models.local.server import LocalServer
    from codescale.eval.runs.config import load_config
    from codescale.eval.runs.opening import check_model, open_run
    from codescale.eval.tasks.load import load_tasks

    model = model or f"local/{default_local_model()}"
    if sandbox not in (None, "docker", "local"):
        raise ConfigError(f"--sandbox {sandbox}: not a sandbox of the demo (docker or local)")
    resolved = load_config([str(PRESET), *config], {"model.id": model, "sandbox.kind": sandbox or "docker",
                                                    "scaling.n": n})
    free_text_for_summaries_and_votes(resolved)
    check_model(resolved)
    kind, base = choose_sandbox(sandbox, base_image, say)
    tasks = load_tasks(None, ids=task_ids or None, base_image=base)
    if not task_ids:
        tasks = [t for t in tasks if t.difficulty == "easy"]

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
            point_at(resolved, server.base_url)
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


def free_text_for_summaries_and_votes(resolved) -> None:
    """The summarizer and the judge call the agent's model unless told otherwise; here they get it without the
    agent's grammar, which would hold their replies to a bash block."""
    extra = {key: value for key, value in resolved.model.extra_body.items() if key != "grammar"}
    for part in (resolved.scaling.summarizer, resolved.scaling.judge):
        if part.model is None:
            part.model = resolved.model.model_copy(update={"extra_body": extra}, deep=True)


def point_at(resolved, base_url: str) -> None:
    """The agent's model, and the summarizer's and judge's when they are the same model, served at `base_url`."""
    for config in (resolved.model, resolved.scaling.summarizer.model, resolved.scaling.judge.model):
        if config is not None and config.id == resolved.model.id and not config.base_url:
            config.base_url = base_url


def choose_sandbox(sandbox: str | None, base_image: str | None, say: Callable[[str], None]) -> tuple[str, str | None]:
    """(the demo's sandbox kind, the base image of its task images): Docker unless `--sandbox local` says otherwise,
    with the base image made first when it is missing (once per machine). ConfigError when Docker cannot run here,
    naming the way out; a line says which sandbox it is."""
    from codescale.eval.tasks import images
    from codescale.eval.tasks.base_image import BaseImageError, make_base_image
    from codescale.eval.tasks.grading import require_harness

    if sandbox == "local":
        say("sandbox: local, NOT isolated: the model's commands run on this machine, in temporary clones")
        return "local", None
    if problem := docker_problem():
        raise ConfigError(f"the demo runs in Docker, and no Docker engine answers here ({problem}); start one, or pass "
                          "--sandbox local to run the model's commands on this machine, NOT isolated")
    require_harness("the demo in Docker (it grades with the harness)")
    base = images.base_image(base_image)
    if not present(base):
        chosen = base_image or os.environ.get("CODESCALE_BASE_IMAGE")
        if chosen and chosen != images.LOCAL_BASE_IMAGE:
            raise ConfigError(f"the base image {chosen} is not here: {images.MAKE_BASE}")
        base = images.LOCAL_BASE_IMAGE
        say(f"making the base image {base} (once per machine: a few minutes) ...")
        try:
            make_base_image(base, say)
        except BaseImageError as e:
            raise ConfigError(f"{e}; or pass --sandbox local to run the model's commands on this machine, NOT "
                              "isolated") from None
    say(f"sandbox: docker (base image {base})")
    return "docker", base


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
