"""Grading a Terminal-Bench task: its tests run in the rollout's own container once the agent has finished.

First every process the agent started is stopped (the sandbox's `end_processes`: the container restarts, its files
stay), so that nothing the agent left running in the background can write the reward or change what the tests see
while they run. Then the tests are copied in (to /tests, never visible to the agent; /tests and /logs/verifier are
emptied first, so nothing the agent left there counts), `bash /tests/test.sh` runs in the work directory within the task's
verifier timeout, and the reward it wrote to /logs/verifier/reward.txt (a number) or reward.json
(`{"reward": x}`) is saved as `<rollout id>.reward.json` beside the trajectory (eval/tasks/kinds/container.py).
`codescale evaluate` reads it.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from codescale.agent.files import TaskFiles
from codescale.agent.records import Trajectory
from codescale.eval.tasks.grading import PatchGrade
from codescale.sandboxes.base import Sandbox, SandboxError

TESTS_DIR = "/tests"
LOG_DIR = "/logs/verifier"
OUTPUT_KEPT = 4000
"""Characters of test.sh's output kept in the reward record (its end)."""


class Reward(BaseModel):
    """The verifier's verdict on one rollout's container."""

    rollout_id: str
    reward: float | None = None
    """What test.sh wrote; None when it wrote nothing readable (then `error` says why)."""
    error: str = ""
    returncode: int | None = None
    timed_out: bool = False
    output: str = ""
    """The end of test.sh's output."""
    seconds: float = 0.0


def copy_tests(tests: Path, sandbox: Sandbox) -> None:
    cleared = sandbox.execute(f"rm -rf {TESTS_DIR} {LOG_DIR} && mkdir -p {TESTS_DIR} {LOG_DIR}", timeout=60)
    if cleared.returncode != 0:
        raise SandboxError(f"cannot prepare {TESTS_DIR}: {cleared.output.strip()[-300:]}")
    for path in sorted(tests.rglob("*")):
        if path.is_file():
            sandbox.write_file(f"{TESTS_DIR}/{path.relative_to(tests).as_posix()}", path.read_bytes())
    sandbox.execute(f"find {TESTS_DIR} -name '*.sh' -exec chmod +x {{}} +", timeout=60)


def read_reward(sandbox: Sandbox) -> tuple[float | None, str]:
    """(reward, problem): from reward.txt, else reward.json."""
    try:
        text = sandbox.read_file(f"{LOG_DIR}/reward.txt").decode(errors="replace").strip()
        try:
            return float(text), ""
        except ValueError:
            return None, f"reward.txt holds {text[:80]!r}, not a number"
    except SandboxError:
        pass
    try:
        data = json.loads(sandbox.read_file(f"{LOG_DIR}/reward.json"))
        return float(data["reward"]), ""
    except SandboxError:
        return None, f"test.sh wrote neither {LOG_DIR}/reward.txt nor reward.json"
    except (ValueError, KeyError, TypeError) as e:
        return None, f"reward.json has no numeric 'reward' ({type(e).__name__}: {e})"


class VerifierConfig(BaseModel):
    """How a container task's tests are run after its rollout (`verifier.<key>` in a run's config)."""

    model_config = ConfigDict(extra="forbid")

    agent_processes: Literal["stop", "keep"] = "stop"
    """`stop`: no process the agent started is alive when the tests run, so nothing but the tests can write the
    reward (a task whose tests expect a service the agent left running scores 0). `keep`: Harbor's way, the tests run
    beside the agent's processes, so such a task can pass, and a process the agent left could rewrite the reward."""


def verify(sandbox: Sandbox, traj: Trajectory, tests: Path, timeout: float, env: dict[str, str],
           stop_processes: bool = True) -> Reward:
    """Run the tests in the folder `tests` in `sandbox` (the rollout's container, the agent finished, with no process of
    its left unless `stop_processes` is False) within `timeout` seconds, with `env` set, and read the reward."""
    exports = "".join(f"export {k}={shlex.quote(v)}; " for k, v in env.items())
    start = time.monotonic()
    if not (tests / "test.sh").is_file():
        return Reward(rollout_id=traj.rollout_id, error=f"no test.sh in the task's tests folder {str(tests)!r}")
    try:
        if stop_processes:
            sandbox.end_processes()
        copy_tests(tests, sandbox)
        out = sandbox.execute(f"{exports}bash {TESTS_DIR}/test.sh", timeout=timeout)
        reward, problem = read_reward(sandbox)
    except SandboxError as e:
        return Reward(rollout_id=traj.rollout_id, error=f"the container could not be checked: {e}",
                      seconds=time.monotonic() - start)
    if out.timed_out:
        reward, problem = 0.0, f"test.sh ran past the verifier timeout ({timeout:g} s)"
    return Reward(rollout_id=traj.rollout_id, reward=reward, error=problem, returncode=out.returncode,
                  timed_out=out.timed_out, output=out.output[-OUTPUT_KEPT:], seconds=time.monotonic() - start)


def load_reward(files: TaskFiles, rollout_id: str) -> Reward | None:
    path = files.reward(rollout_id)
    return Reward.model_validate_json(path.read_text()) if path.is_file() else None


def reward_grade(files: TaskFiles, rollout_id: str | None) -> PatchGrade:
    """A rollout's grade from its saved reward: resolved when the reward is 1 (or more)."""
    if rollout_id is None:
        return PatchGrade(error="no rollout was selected")
    reward = load_reward(files, rollout_id)
    if reward is None:
        return PatchGrade(error=f"no reward recorded for {rollout_id} (its container was not checked)")
    resolved = reward.reward is not None and reward.reward >= 1.0
    return PatchGrade(resolved=resolved, reward=reward.reward, error=reward.error)
