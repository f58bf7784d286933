"""The prompts and limits of a task whose outcome is its container (configs/terminal.yaml), put into a run's
agent and scaling configs for that task only. A template the user configured is kept: only one still at the
default of configs/agent.yaml or configs/scaling.yaml is replaced."""

from __future__ import annotations

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
