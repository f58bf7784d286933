"""The bundled Terminal-Bench suite graded by Harbor itself (`harbor run -a oracle`, the runner of Terminal-Bench 2)
and by codescale: every task's reference solution gets the same reward under both, and so does a copy of one task
whose solution does nothing. Harbor runs offline from its own virtualenv (.ci/peers.sh), its images built from each
task's environment/ on the local base image (a compose overlay passes BASE_IMAGE, as FACTS.md says)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import BASE_IMAGE
from fake_server import FakeServer
from peers import peer
from test_terminal import Solver, cli, rewards, run_args

from codescale.eval.tasks import harbor

BROKEN = "log-5xx-broken"
"""A copy of log-5xx whose solution does nothing: both runners must give it 0."""


def suite(root: Path) -> Path:
    folder = root / "suite"
    shutil.copytree(harbor.SUITE_DIR, folder)
    shutil.copytree(folder / "log-5xx", folder / BROKEN)
    (folder / BROKEN / "solution" / "solve.sh").write_text("#!/bin/bash\ntrue\n")
    instruction = folder / BROKEN / "instruction.md"  # the scripted agent tells tasks apart by it
    instruction.write_text(instruction.read_text().replace("\n", " (a copy)\n", 1))
    return folder


def harbor_rewards(tasks: Path, jobs: Path) -> dict[str, float | None]:
    tool = peer("harbor")
    overlay = jobs / "overlay.yaml"
    jobs.mkdir()
    overlay.write_text(json.dumps({"services": {"main": {"stop_grace_period": "1s",
                                                          "build": {"args": {"BASE_IMAGE": BASE_IMAGE}}}}}))
    env = {**os.environ, "HARBOR_TELEMETRY": "0", "DOCKER_CONFIG": str(tool.root / "docker-config")}
    done = subprocess.run([str(tool.bin("harbor")), "run", "-p", str(tasks), "-a", "oracle", "-e", "docker", "-n", "2",
                           "-o", str(jobs), "--job-name", "parity", "--extra-docker-compose", str(overlay), "-y"],
                          capture_output=True, text=True, env=env, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = {}
    for result in (jobs / "parity").glob("*/result.json"):
        data = json.loads(result.read_text())
        found[data["task_name"]] = ((data.get("verifier_result") or {}).get("rewards") or {}).get("reward")
    return found


@pytest.mark.slow
def test_reference_solutions_get_the_same_reward_under_harbor_and_codescale(docker_client, base_image, tmp_path):
    tasks = suite(tmp_path)
    names = sorted(d.name for d in harbor.task_dirs(tasks))
    by_harbor = harbor_rewards(tasks, tmp_path / "jobs")
    out = tmp_path / "codescale"
    with FakeServer(responder=Solver(harbor.task_dirs(tasks))) as server:
        done = cli("batch", "--dataset", str(tasks), "--strategy", "single", "--base-image", BASE_IMAGE,
                   "--workers", "2", "--no-live", *run_args(server, out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert cli("evaluate", str(out)).returncode == 0
    by_codescale = rewards(out)
    assert by_codescale == by_harbor
    assert by_codescale == {name: 0.0 if name == BROKEN else 1.0 for name in names}
