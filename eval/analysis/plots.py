"""The report's plots (matplotlib, Agg backend), each returned as a PNG data URI to embed in the HTML."""

from __future__ import annotations

import base64
import io

from codescale.eval.analysis.compare import Comparison
from codescale.eval.analysis.curves import Curves

PHASE_COLOURS = {"rollouts": "#4c72b0", "summaries": "#55a868", "judge": "#c44e52"}
METHOD_STYLES = {"oracle": ("--", "#555555"), "pass@1": (":", "#555555"), "random": ("-", "#8172b2"), "rtv": ("-", "#c44e52")}


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("the report's plots need matplotlib: pip install 'codescale[report]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _data_uri(fig) -> str:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def resolved_vs_cost(c: Comparison) -> str:
    """Resolved rate (with its interval) against cost per task, or tokens per task when a price is unknown."""
    plt = _pyplot()
    use_cost = all(r.phases["total"].cost_per_task is not None for r in c.runs)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for k, r in enumerate(c.runs):
        x = r.phases["total"].cost_per_task if use_cost else r.phases["total"].tokens_per_task
        y = 100 * r.resolved.value
        ax.errorbar([x], [y], yerr=[[y - 100 * r.resolved.low], [100 * r.resolved.high - y]], fmt="o", capsize=4)
        ax.annotate(r.name, (x, y), textcoords="offset points", xytext=(6, 4 - 12 * (k % 2)), fontsize=8)
    ax.set_xlabel("cost per task (USD)" if use_cost else "tokens per task (a price is unknown)")
    ax.set_ylabel("resolved (%)")
    ax.set_ylim(-5, 105)
    ax.set_title(f"Resolved vs cost ({len(c.shared_tasks)} shared tasks, 95% CI)", fontsize=10)
    ax.grid(alpha=0.3)
    return _data_uri(fig)


def resolved_vs_n(curves: dict[str, Curves]) -> str:
    """One panel per run: each selection method's mean over seeds (min-max band), oracle pass@N and pass@1."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(4.6 * len(curves), 3.4), squeeze=False)
    for ax, (name, cv) in zip(axes[0], curves.items()):
        for method in cv.values:
            style, colour = METHOD_STYLES.get(method, ("-", None))
            means = [100 * cv.mean(method, n) for n in cv.ns]
            ax.plot(cv.ns, means, style, marker="o", ms=3, color=colour, label=method)
            if max(len(cv.values[method][n]) for n in cv.ns) > 1:
                ax.fill_between(cv.ns, [100 * min(cv.values[method][n]) for n in cv.ns],
                                [100 * max(cv.values[method][n]) for n in cv.ns], color=colour, alpha=0.15)
        ax.set_xscale("log", base=2)
        ax.set_xticks(cv.ns, [str(n) for n in cv.ns])
        ax.set_ylim(-5, 105)
        ax.set_xlabel("N (rollouts subsampled)")
        ax.set_ylabel("resolved (%)")
        ax.set_title(f"{name} ({cv.tasks} tasks, {cv.seeds} seeds)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _data_uri(fig)


def judge_accuracy(accuracy: dict[str, dict[int, tuple[int, int]]]) -> str:
    """Per run and round: the share of mixed matches (a resolved and an unresolved candidate) whose winner resolved."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    rounds = sorted({r for per in accuracy.values() for r in per})
    width = 0.8 / max(1, len(accuracy))
    for k, (name, per) in enumerate(accuracy.items()):
        xs = [r + k * width for r in rounds if r in per]
        ys = [100 * per[r][0] / per[r][1] for r in rounds if r in per]
        bars = ax.bar(xs, ys, width, label=name)
        for bar, r in zip(bars, [r for r in rounds if r in per]):
            ax.annotate(f"{per[r][0]}/{per[r][1]}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)
    ax.set_xticks([r + width * (len(accuracy) - 1) / 2 for r in rounds], [f"round {r + 1}" for r in rounds])
    ax.set_ylabel("winner resolved (%)")
    ax.set_ylim(0, 110)
    ax.set_title("Judge accuracy on mixed matches", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return _data_uri(fig)


def survivors_per_round(c: Comparison) -> str:
    """Per run and RTV stage: the mean resolved rate of the candidates left after each round (round 0: the entrants),
    the paper's per-round curve."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for r in c.runs:
        stages = dict.fromkeys(point.stage for point in r.paper.rounds or [])
        for stage in stages:
            points = [p for p in r.paper.rounds if p.stage == stage]
            ax.plot([p.round for p in points], [100 * p.resolved_rate for p in points], marker="o", ms=3,
                    linestyle="-" if stage == "final" else "--", label=f"{r.name}: {stage}")
    ax.set_xlabel("round (0: entrants)")
    ax.set_ylabel("survivors resolved (%)")
    ax.set_ylim(-5, 105)
    ax.set_title("Resolved rate of RTV survivors per round", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _data_uri(fig)


def tokens_per_phase(c: Comparison) -> str:
    """Stacked tokens per task by phase, one bar per run."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    names = [r.name for r in c.runs]
    bottom = [0.0] * len(names)
    for phase, colour in PHASE_COLOURS.items():
        heights = [r.phases[phase].tokens_per_task for r in c.runs]
        ax.bar(names, heights, bottom=bottom, color=colour, label=phase)
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.set_ylabel("tokens per task")
    ax.set_title("Tokens per task by phase", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    ax.tick_params(axis="x", labelsize=8, labelrotation=15)
    return _data_uri(fig)
