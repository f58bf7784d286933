"""The container kind: a Terminal-Bench (Harbor format) task. There is no repository to change: the outcome is the
container's final state, which the task's own tests check in that container once the agent is done
(eval/tasks/verifier.py). Its prompts are configs/terminal.yaml's; its limits, resources, network and environment
come from task.toml (eval/tasks/harbor.py loads it), within the rights of container_sandbox.py."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from codescale import configs
from codescale.agent.files import TaskFiles
from codescale.agent.records import Trajectory
from codescale.agent.templates import render
from codescale.eval.tasks import harbor_images, verifier
from codescale.eval.tasks.kinds.base import C, GradeJob, TaskKind
from codescale.eval.tasks.kinds.container_sandbox import CAPABILITIES, sandbox_settings
from codescale.sandboxes.base import Sandbox
from codescale.agent.compact import clip

COMMAND_CHARS = 300
OUTPUT_CHARS = 1200
LAST_OUTPUTS = 2
"""What stands for the outcome shows the outputs of this many last commands (before the submission)."""


class ContainerTask(TaskKind):
    """A task folder: `instruction.md` (the problem statement), `environment/` (its image), `tests/` (the checks)."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["container"] = "container"
    task_dir: str
    """The task's folder (absolute): its tests are copied from there into the container after the agent."""
    agent_timeout: float = 600.0
    """Wall seconds the agent may work ([agent] timeout_sec; caps `agent.time_limit`)."""
    verifier_timeout: float = 600.0
    """Seconds the tests may run ([verifier] timeout_sec)."""
    verifier_env: dict[str, str] = {}
    """Environment of the tests ([verifier.env])."""
    cpus: float = 1.0
    """CPUs of the container ([environment] cpus; at most this machine's)."""
    memory_mb: int = 2048
    """Memory of the container in MB ([environment] memory_mb, or memory = "4G")."""
    storage_mb: int | None = None
    """Disk the container may add to its image, in MB ([environment] storage_mb or storage; the sandbox's
    `disk_limit`); None: the sandbox's default."""
    allow_internet: bool = True
    """Whether the container may reach the internet, while the agent works and while the tests run
    ([environment] allow_internet; Harbor's default when absent: yes)."""
    env: dict[str, str] = {}
    """Environment variables of every command in the container ([environment.env])."""
    prebuilt_image: str = ""
    """The image task.toml names (`docker_image`): used when it is here or can be pulled."""
    environment_image: str = ""
    """The tag environment/ is built as when the prebuilt image cannot be had ("" : no environment/Dockerfile)."""
    base_image: str = ""
    """The BASE_IMAGE build argument of environment/Dockerfile ("" : the Dockerfile's own default)."""
    difficulty: str = ""
    category: str = ""

    takes_diff = False
    empty_reason = "ran no command"
    capabilities: ClassVar[tuple[str, ...]] = CAPABILITIES

    def outcome_text(self, traj: Trajectory) -> str:
        """Every command the rollout ran (exit code, clipped) and the outputs of its last LAST_OUTPUTS; "" when none
        ran. A selection compares these and the judge is shown them below each summary."""
        steps = [s for s in traj.steps if s.action and s.returncode is not None]
        work = [s for s in steps if s is not steps[-1] or traj.exit_status != "submitted"] if steps else []
        if not work:
            return ""
        lines = [f"Commands ({len(work)}), with exit codes:"]
        lines += [f"- [{s.returncode}] $ {clip(s.action, COMMAND_CHARS)}" for s in work]
        for s in work[-LAST_OUTPUTS:]:
            lines += ["", f"Output of step {s.index} ($ {clip(s.action, 120)}):", clip(s.observation, OUTPUT_CHARS)]
        lines += ["", f"Exit status: {traj.exit_status}."]
        return "\n".join(lines)

    def outcome_lines(self, traj: Trajectory) -> str:
        return "The outcome is the container's final state."

    def overlay(self, config: C) -> C:
        """configs/terminal.yaml's prompts where the agent's, summarizer's and judge's are still the defaults (the
        system prompts saying whether there is network and whether the processes it starts outlive it); a time limit
        within the agent timeout; the task's sandbox (container_sandbox.py) where the settings name none. TaskError
        when the settings would open it wider."""
        sandbox = sandbox_settings(self, config.sandbox)
        terminal = configs.load("terminal")["terminal"]
        prompts = dict(terminal["agent"])
        for name in ("system_template", "persistent_system_template"):
            prompts[name] = render(prompts[name], network=sandbox.get("network") != "none",
                                   processes_kept=config.verifier.agent_processes == "keep")
        agent = _swap(config.agent, prompts)
        if self.agent_timeout and (not agent.time_limit or agent.time_limit > self.agent_timeout):
            agent = agent.model_copy(update={"time_limit": self.agent_timeout})
        scaling = config.scaling.model_copy(update={
            "summarizer": _swap(config.scaling.summarizer, terminal["summarizer"]),
            "judge": _swap(config.scaling.judge, terminal["judge"]),
        })
        return config.model_copy(update={"agent": agent, "scaling": scaling, "sandbox": sandbox})

    def shown(self) -> list[str]:
        image = self.image
        if self.prebuilt_image and self.environment_image:
            image = f"{self.prebuilt_image} (when here or pullable; else environment/ built as {self.environment_image})"
        storage = f"{self.storage_mb} MB" if self.storage_mb else "the sandbox's disk_limit"
        return [f"task_dir: {self.task_dir}", f"difficulty: {self.difficulty}", f"category: {self.category}",
                f"image: {image}", f"workdir: {self.workdir or '(the image WORKDIR, known once it is here)'}",
                f"cpus: {self.cpus:g}", f"memory: {self.memory_mb} MB", f"storage: {storage}",
                f"internet: {'allowed' if self.allow_internet else 'none'} (agent and tests)",
                f"capabilities: {', '.join(self.capabilities)}",
                "env:" + "".join(f"\n  {k}={v}" for k, v in self.env.items()),
                f"agent_timeout: {self.agent_timeout:g} s", f"verifier_timeout: {self.verifier_timeout:g} s",
                "verifier_env:" + "".join(f"\n  {k}={v}" for k, v in self.verifier_env.items())]

    def after_rollout(self, sandbox: Sandbox, traj: Trajectory, task_dir: Path, config: BaseModel) -> None:
        """The task's tests in the rollout's container (the agent's processes stopped first unless the run's
        `verifier.agent_processes` is `keep`); the reward they wrote saved beside the trajectory."""
        stop = config.verifier.agent_processes == "stop"
        found = verifier.verify(sandbox, traj, Path(self.task_dir) / "tests", self.verifier_timeout, self.verifier_env,
                                stop_processes=stop)
        files = TaskFiles(task_dir)
        files.save(files.reward(traj.rollout_id), found)

    def rollout_complete(self, files: TaskFiles, rollout_id: str) -> bool:
        return files.reward(rollout_id).is_file()  # stopped before its container was checked: run it again

    def resolved(self, files: TaskFiles, rollout_id: str) -> bool | None:
        grade = verifier.reward_grade(files, rollout_id)  # the reward its tests wrote when the rollout ended
        return None if grade.reward is None and grade.error else grade.resolved

    def make_image(self, client) -> bool:
        return harbor_images.make(self, client)

    @classmethod
    def grade(cls, jobs: list[GradeJob], log_dir: Path, workers: int, timeout: int, graded=None) -> list:
        grades = [verifier.reward_grade(job.files, job.rollout_id) for job in jobs]
        if graded:
            for job, found in zip(jobs, grades):
                graded(job.task.instance_id, found)
        return grades


def _swap(config: BaseModel, templates: dict[str, str]) -> BaseModel:
    """`config` with these templates where it still has its class's defaults (what the user set is kept)."""
    default = type(config)()
    changed = {name: text for name, text in templates.items() if getattr(config, name) == getattr(default, name)}
    return config.model_copy(update=changed)
