"""`codescale plan`: what a run of a configuration over T tasks will ask for, before it runs.

The counts per task come from the configuration by construction (eval/runs/counts.py). Tokens, container-hours and
cost multiply them by a typical step and typical call sizes (configs/plan.yaml, or the step figures measured in a
finished run's trajectories with `from_run`), within the agent's step and cost limits: estimates, not measurements.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from codescale import configs
from codescale.agent.models.base import ModelConfig
from codescale.agent.models.catalog import model_info
from codescale.agent.records import Usage
from codescale.eval.runs.config import ConfigError, RunConfig
from codescale.eval.runs.counts import Counts, judge_batches, per_task
from codescale.eval.runs.rundir import RunDir
from codescale.scaling.base import SELECTORS

class StepFigures(BaseModel):
    """A rollout's typical shape (a row of configs/plan.yaml `typical_step`, or measured in a run)."""

    steps: float
    """Agent steps per rollout."""
    input_tokens: float
    """Prompt tokens per step, averaged over a rollout."""
    output_tokens: float
    """Reply tokens per step, thinking included."""
    seconds: float
    """Wall seconds per step (model and command)."""
    source: str = ""
    """Where the figures come from."""


class CallSizes(BaseModel):
    """Token sizes of the scaling calls (configs/plan.yaml `calls`)."""

    issue_tokens: int
    summary_tokens: int
    patch_tokens: int
    prompt_tokens: int
    summary_output_tokens: int
    judge_output_tokens: int


class Phase(BaseModel):
    input_tokens: float
    output_tokens: float
    cost_usd: float | None
    """None when the phase's model has no price in configs/models.yaml."""


class Plan(BaseModel):
    strategy: str
    model: str
    judge_model: str
    tasks: int
    judge_batched: bool
    """Whether the votes of one ordering are one request (`n`)."""
    per_task: Counts
    total: Counts
    step: StepFigures
    phases: dict[str, Phase]
    """rollouts, summaries, judge, total: tokens and cost over all tasks."""
    container_hours: float
    """Rollouts x steps x seconds per step (execution evidence, when on, not included)."""
    notes: list[str] = []


def typical_step(model: ModelConfig) -> StepFigures:
    """The model's row of configs/plan.yaml `typical_step` (a dated snapshot finds its undated row), else `default`."""
    rows = configs.load("plan")["typical_step"]
    name = model.name
    undated = re.sub(r"-(\d{8}|\d{4}-\d{2}-\d{2})$", "", name)
    found = name if name in rows else undated if undated in rows else "default"
    return StepFigures(**rows[found], source=f"configs/plan.yaml typical_step: {found} (an estimate)")


def from_run(path: Path) -> StepFigures:
    """The step figures measured in a finished run: its rollouts' mean steps, tokens per step and seconds per step."""
    run = RunDir.existing(path)
    steps = [step for instance_id, result in run.results().items() for ids in result.rollouts for rid in ids
             if (traj := run.trajectory(instance_id, rid)) is not None for step in traj.steps]
    rollouts = sum(len(ids) for result in run.results().values() for ids in result.rollouts)
    if not steps:
        raise ConfigError(f"{path}: no rollout with a step to measure")
    per = lambda values: sum(values) / len(steps)  # noqa: E731
    return StepFigures(steps=len(steps) / rollouts, input_tokens=per([s.usage.input_tokens for s in steps]),
                       output_tokens=per([s.usage.output_tokens for s in steps]), seconds=per([s.seconds for s in steps]),
                       source=f"measured in {path} ({rollouts} rollouts, {len(steps)} steps)")


def within_limits(config: RunConfig, step: StepFigures, sizes: CallSizes) -> tuple[StepFigures, list[str]]:
    """The step figures with a rollout's steps cut where `agent.step_limit` or `agent.cost_limit` would end it."""
    agent, notes = config.agent, []
    if agent.step_limit and step.steps > agent.step_limit:
        step = step.model_copy(update={"steps": float(agent.step_limit)})
        notes.append(f"rollouts end at agent.step_limit ({agent.step_limit} steps)")
    context = sizes.summary_tokens * (config.scaling.pdr.k if config.scaling.strategy.startswith("pdr") else 0)
    one = _phase(config.model, step.steps * (step.input_tokens + context), step.steps * step.output_tokens).cost_usd
    if agent.cost_limit and one is not None and one > agent.cost_limit:
        step = step.model_copy(update={"steps": step.steps * agent.cost_limit / one})
        notes.append(f"a typical rollout would cost ${one:.2f}: agent.cost_limit (${agent.cost_limit:g}) ends it "
                     f"after about {step.steps:.0f} steps")
    return step, notes


def _phase(model: ModelConfig, input_tokens: float, output_tokens: float) -> Phase:
    cost = model_info(model.name).cost(Usage(input_tokens=round(input_tokens), output_tokens=round(output_tokens)))
    return Phase(input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=cost)


def plan(config: RunConfig, tasks: int, step: StepFigures | None = None) -> Plan:
    """What `tasks` tasks of this configuration ask for (see the module's docstring for what is exact)."""
    if tasks < 1:
        raise ConfigError(f"--tasks must be at least 1 (got {tasks})")
    s, sizes = config.scaling, CallSizes(**configs.load("plan")["calls"])
    step = step or typical_step(config.model)
    batched, notes = judge_batches(config)
    step, capped = within_limits(config, step, sizes)
    notes += capped
    one = per_task(config, batched)
    total = one.times(tasks)
    refined = s.n * s.pdr.generations * tasks if s.strategy in ("pdr", "pdr+rtv") else 0
    context = s.pdr.k if s.pdr.context != "own" else 1
    agent_in = total.rollouts * step.steps * step.input_tokens + refined * step.steps * context * sizes.summary_tokens
    agent_out = total.rollouts * step.steps * step.output_tokens
    trajectory = min(2 * step.input_tokens, s.summarizer.max_input_tokens)  # the last step's conversation, bounded
    summary_in = total.summaries * (sizes.prompt_tokens + sizes.issue_tokens + trajectory)
    shown = {"summary": sizes.summary_tokens, "summary+diff": sizes.summary_tokens + sizes.patch_tokens,
             "trajectory": s.judge.trajectory_tokens / s.rtv.group_size}[s.judge.input]
    judge_in = total.judge_requests * (sizes.prompt_tokens + sizes.issue_tokens + s.rtv.group_size * shown)
    phases = {
        "rollouts": _phase(config.model, agent_in, agent_out),
        "summaries": _phase(s.summarizer.model or config.model, summary_in, total.summaries * sizes.summary_output_tokens),
        "judge": _phase(s.judge.model or config.model, judge_in, total.judge_votes * sizes.judge_output_tokens),
    }
    costs = [p.cost_usd for p in phases.values()]
    phases["total"] = Phase(input_tokens=sum(p.input_tokens for p in phases.values()),
                            output_tokens=sum(p.output_tokens for p in phases.values()),
                            cost_usd=None if None in costs else sum(costs))
    if s.strategy in SELECTORS and SELECTORS[s.strategy] == "rtv" and s.rtv.duplicates == "keep":
        notes.append("identical patches meet without a judge request, empty ones do not enter: fewer requests")
    notes.append("a tied match is voted again: V more votes (2 more requests n-batched for G = 2)")
    if phases["total"].cost_usd is not None:
        notes.append("input is priced as uncached at list prices: a prompt cache, where the provider applies one, costs less")
    if s.selection.evidence != "none":
        notes.append("execution evidence (scaling.selection.evidence) adds sandbox time not counted here")
    return Plan(strategy=s.strategy, model=config.model.id, judge_model=(s.judge.model or config.model).id, tasks=tasks,
                judge_batched=batched, per_task=one, total=total, step=step, phases=phases,
                container_hours=total.rollouts * step.steps * step.seconds / 3600, notes=notes)


def lines(p: Plan) -> list[str]:
    """The plan as a reader sees it."""
    def cost(value: float | None) -> str:
        return "unknown (no price in configs/models.yaml)" if value is None else f"${value:,.0f}"

    t, one = p.total, p.per_task
    out = [
        f"{p.strategy} on {p.tasks} tasks with {p.model} (judge {p.judge_model}, votes "
        f"{'n-batched: one request per ordering' if p.judge_batched else 'one request each'})",
        f"rollouts        {t.rollouts:>10,}   ({one.rollouts} per task)",
        f"summaries       {t.summaries:>10,}   (at most {one.summaries} per task)",
        f"judge matches   {t.matches:>10,}   ({one.matches} per task)",
        f"judge votes     {t.judge_votes:>10,}   ({one.judge_votes} per task)",
        f"judge requests  {t.judge_requests:>10,}   ({one.judge_requests} per task, no tie, all patches distinct)",
        f"typical step: {p.step.steps:.0f} steps per rollout, {p.step.input_tokens:,.0f} in / "
        f"{p.step.output_tokens:,.0f} out tokens and {p.step.seconds:.0f} s per step ({p.step.source})",
    ]
    for name, phase in p.phases.items():
        out.append(f"{name + ' tokens':<16}{phase.input_tokens / 1e6:>10,.1f} M in, {phase.output_tokens / 1e6:,.1f} M out;"
                   f" cost {cost(phase.cost_usd)}")
    out.append(f"container-hours {p.container_hours:>10,.0f}")
    out += [f"note: {note}" for note in p.notes]
    return out
