"""What a task whose outcome is its container changes in a run's config, for that task only: the prompts
(configs/terminal.yaml), the agent's time limit (task.toml's [agent] timeout) and the container's memory and
CPUs (its [environment]). What the user configured is kept: a template is replaced only while it is still the
default of configs/agent.yaml or configs/scaling.yaml, and a sandbox setting only when the config names none."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel

from codescale import configs
from codescale.agent.loop import AgentConfig
from codescale.agent.records import Task
from codescale.scaling.base import ScalingConfig


def _prompts() -> dict:
    return configs.load("terminal")["terminal"]


def _swap(config: BaseModel, templates: dict[str, str]) -> BaseModel:
    default = type(config)()
    changed = {name: text for name, text in templates.items() if getattr(config, name) == getattr(default, name)}
    return config.model_copy(update=changed)


def agent_config(task: Task, agent: AgentConfig) -> AgentConfig:
    """`agent` for `task`: the container prompts, and a time limit within the task's agent timeout."""
    if task.outcome != "container":
        return agent
    agent = _swap(agent, _prompts()["agent"])
    timeout = float((task.model_extra or {}).get("agent_timeout") or 0)
    if timeout and (not agent.time_limit or agent.time_limit > timeout):
        agent = agent.model_copy(update={"time_limit": timeout})
    return agent


def scaling_config(task: Task, scaling: ScalingConfig) -> ScalingConfig:
    """`scaling` for `task`: the summarizer's and judge's container prompts."""
    if task.outcome != "container":
        return scaling
    prompts = _prompts()
    return scaling.model_copy(update={
        "summarizer": _swap(scaling.summarizer, prompts["summarizer"]),
        "judge": _swap(scaling.judge, prompts["judge"]),
    })


def sandbox_settings(task: Task, sandbox: dict[str, Any]) -> dict[str, Any]:
    """Docker sandbox settings for `task`: its task.toml memory and CPUs (CPUs at most this machine's) where
    `sandbox` sets none."""
    extra = task.model_extra or {}
    if task.outcome != "container" or sandbox.get("kind", "docker") != "docker":
        return sandbox
    wanted: dict[str, Any] = {}
    if extra.get("memory_mb"):
        wanted["memory"] = f"{int(extra['memory_mb'])}m"
    if extra.get("cpus"):
        wanted["cpus"] = min(float(extra["cpus"]), float(os.cpu_count() or 1))
    return {**wanted, **sandbox}
