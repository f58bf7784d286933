"""`--track mlflow`: a run's configuration, per-task outcomes and, once graded, its compare figures in an MLflow file
store (no server). MLflow is not in the `test` extra (about 80 packages): codescale runs here with the interpreter of
the MLflow virtualenv .ci/peers.sh makes over the project's own packages."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from fake_server import FakeServer
from peers import peer
from test_agent import script
from test_cli import THERMO_FIX

REPO = Path(__file__).resolve().parent.parent

READ_BACK = """
import json, sys, mlflow
mlflow.set_experiment("codescale")
[run] = mlflow.search_runs(filter_string="tags.`codescale.run_id` = '%s'", output_format="list")
client = mlflow.MlflowClient()
tasks = json.loads(open(client.download_artifacts(run.info.run_id, "tasks.json")).read())
print(json.dumps({"params": run.data.params, "metrics": run.data.metrics, "tags": run.data.tags, "tasks": tasks}))
"""


@pytest.fixture
def tracked_python(tmp_path):
    """(the MLflow venv's python, its environment): codescale importable from this checkout, the store in tmp_path."""
    mlflow = peer("mlflow")
    shim = tmp_path / "shim" / "codescale"
    shim.mkdir(parents=True)
    for top in ("agent", "configs", "eval", "sandboxes", "scaling"):
        (shim / top).symlink_to(REPO / top)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "shim"), "MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri(),
           "MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_EXPERIMENT_NAME": "codescale"}
    return str(mlflow.python), env


@pytest.mark.slow
def test_a_run_and_its_grades_are_tracked_in_mlflow(tracked_python, base_image, tmp_path):
    python, env = tracked_python
    out = tmp_path / "run"
    with FakeServer(responder=script(THERMO_FIX, "echo CODESCALE_SUBMIT")) as server:
        done = subprocess.run([python, "-m", "codescale.eval.cli", "run", "--task", "codescale__thermo-1",
                               "--base-image", base_image, "--model", "openai/fake", "--base-url", server.openai_url,
                               "--out", str(out), "--track", "mlflow"], capture_output=True, text=True, env=env,
                              timeout=600)
    assert done.returncode == 0, done.stderr
    assert "tracked in mlflow: run " in done.stderr
    graded = subprocess.run([python, "-m", "codescale.eval.cli", "evaluate", str(out), "--track", "mlflow"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert graded.returncode == 0, graded.stderr
    run_id = yaml.safe_load((out / "run.yaml").read_text())["run_id"]
    read = subprocess.run([python, "-c", READ_BACK % run_id], capture_output=True, text=True, env=env, timeout=120)
    assert read.returncode == 0, read.stderr
    found = json.loads(read.stdout)
    assert found["params"]["model.id"] == "openai/fake" and found["params"]["scaling.strategy"] == "single"
    assert found["tags"]["codescale.command"] == "run"
    assert (found["metrics"]["tasks"], found["metrics"]["done"], found["metrics"]["resolved"]) == (1, 1, 1.0)
    assert found["metrics"]["total.tokens_per_resolved"] > 0
    [task] = found["tasks"]["tasks"]
    assert (task["instance_id"], task["exit_status"], task["resolved"]) == ("codescale__thermo-1", "submitted", True)


def test_an_unknown_tracker_is_refused_before_anything_runs(tmp_path):
    from test_cli import codescale, one_error_line

    line = one_error_line(codescale("run", "--task", "codescale__thermo-1", "--model", "openai/fake",
                                    "--out", str(tmp_path / "o"), "--track", "wandb"))
    assert line == "error: --track wandb: unknown tracker; known: mlflow"
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_store_that_refuses_the_run_is_one_error_line_and_the_run_stays(tracked_python, base_image, tmp_path):
    python, env = tracked_python
    env.pop("MLFLOW_ALLOW_FILE_STORE")  # MLflow 3 refuses a folder store unless told
    out = tmp_path / "run"
    with FakeServer(responder=script("echo CODESCALE_SUBMIT")) as server:
        done = subprocess.run([python, "-m", "codescale.eval.cli", "run", "--task", "codescale__thermo-1",
                               "--base-image", base_image, "--model", "openai/fake", "--base-url", server.openai_url,
                               "--out", str(out), "--track", "mlflow", "-q"], capture_output=True, text=True, env=env,
                              timeout=600)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("error: --track mlflow: ") and line.endswith(f"(the run itself is in {out})")
    assert (out / "results.jsonl").is_file()
