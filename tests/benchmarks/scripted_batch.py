"""What the benchmarks share: their common options, a scripted agent that takes a fixed number of steps at a fixed
latency per model call, and one timed `codescale batch` of the bundled tasks against it."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fake_server

from fake_server import FakeServer  # noqa: E402

from codescale.eval.tasks.bundled import suite_ids  # noqa: E402


def scripted_options(parser: argparse.ArgumentParser, *, n: int, tasks: int | None = None) -> None:
    """Add the options of a benchmark against the scripted agent: `--tasks` (when it runs several; default `tasks`),
    `--n` rollouts (default `n`), `--latency` per model call, `--steps` per rollout and the `--base-image`."""
    if tasks is not None:
        parser.add_argument("--tasks", type=int, default=tasks)
    parser.add_argument("--n", type=int, default=n)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--base-image", default=os.environ.get("CODESCALE_BASE_IMAGE", "codescale/base:bookworm"))


def scripted_agent(latency: float, steps: int) -> Callable[[dict], str]:
    """A responder that sleeps `latency` s per call and runs `steps - 1` commands, then submits."""

    def respond(body: dict) -> str:
        time.sleep(latency)
        step = (len(body["messages"]) - 2) // 2
        command = "echo CODESCALE_SUBMIT" if step >= steps - 1 else f"echo step {step}"
        return f"Step {step}.\n```bash\n{command}\n```"

    return respond


def timed_batch(tasks: int, n: int, latency: float, steps: int, base_image: str, options: list[str]) -> float:
    """Wall seconds of `codescale batch` over the first `tasks` bundled tasks, best_of_n with N rollouts each,
    plus `options`; SystemExit when it fails or the server did not see every rollout's calls."""
    with FakeServer(responder=scripted_agent(latency, steps)) as server, tempfile.TemporaryDirectory() as out:
        argv = [
            sys.executable, "-m", "codescale.eval.cli", "batch", "--dataset", "codescale",
            "--ids", ",".join(suite_ids()[:tasks]), "--model", "openai/fake", "--base-url", server.openai_url,
            "--strategy", "best_of_n", "-c", f"scaling.n={n}", "--base-image", base_image, "--out", out,
            "--no-live", *options,
        ]
        start = time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True)
        seconds = time.monotonic() - start
        if done.returncode != 0:
            raise SystemExit(f"batch failed ({done.returncode}):\n{done.stderr[-2000:]}")
        calls = len(server.requests)
    if calls != tasks * n * steps:
        raise SystemExit(f"expected {tasks * n * steps} model calls, the server saw {calls}")
    return seconds
