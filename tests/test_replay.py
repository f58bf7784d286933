"""One path for presets, and runs replayed from their own run.yaml: `codescale run` as a user runs it (a real process,
the fake model server playing agent, summarizer and judge, the local sandbox)."""

from __future__ import annotations

import json

import pytest
import yaml
from fake_server import FakeServer
from scaling_script import ScalingScript
from test_agent import FIX
from test_cli import codescale

from codescale.eval.runs.config import ConfigError, load_config



def saved_config(run_dir) -> dict:
    return yaml.safe_load((run_dir / "run.yaml").read_text())["config"]


def run(server: FakeServer, task_file, out, *args: str) -> dict:
    done = codescale("run", "--task", str(task_file), "--out", str(out), *args)
    assert done.returncode == 0, done.stderr
    return saved_config(out)


def test_naming_the_strategy_by_flag_or_by_key_resolves_the_same_run_yaml(calc_task_file, tmp_path):
    with FakeServer(responder=ScalingScript(["fix"] * 4, {"fix": [FIX]})) as server:
        common = ("--model", "openai/fake", "--base-url", server.openai_url, "--sandbox", "local", "-c", "scaling.n=2")
        by_flag = run(server, calc_task_file, tmp_path / "flag", "--strategy", "rtv", *common)
        by_key = run(server, calc_task_file, tmp_path / "key", "-c", "scaling.strategy=rtv", *common)
    assert by_key == by_flag
    assert by_key["scaling"]["strategy"] == "rtv"
    assert by_key["model"]["temperature"] == 0.7  # the rtv preset's (the default is 0.0: greedy)
    assert by_key["scaling"]["judge"]["batch_votes"] is True


def test_a_run_replayed_from_its_run_yaml_saves_the_same_configuration(calc_task_file, tmp_path):
    with FakeServer(responder=ScalingScript(["fix"] * 4, {"fix": [FIX]})) as server:
        first = run(server, calc_task_file, tmp_path / "first", "--model", "openai/fake", "--base-url",
                    server.openai_url, "--sandbox", "local", "--strategy", "rtv", "-c", "scaling.n=2", "-c", "agent.step_limit=7",
                    "-c", "scaling.rtv.votes=4")
        again = run(server, calc_task_file, tmp_path / "again", "-c", str(tmp_path / "first" / "run.yaml"))
    assert again == first
    assert (again["agent"]["step_limit"], again["scaling"]["rtv"]["votes"], again["sandbox"]["kind"]) == (7, 4, "local")
    result = json.loads((tmp_path / "again" / "results.jsonl").read_text())
    assert result["strategy"] == "rtv" and len(result["rollouts"][0]) == 2


def test_a_run_yaml_under_later_overrides_keeps_them():
    """A replay is a `-c` item like any other: what comes after it wins."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.yaml"
        path.write_text(yaml.safe_dump({"run_id": "abc", "command": "run", "config": load_config(
            ["agent.step_limit=7"], {"scaling.strategy": "pdr+rtv"}).model_dump(mode="json")}))
        config = load_config([str(path), "scaling.n=3"])
    assert (config.scaling.strategy, config.scaling.n, config.agent.step_limit) == ("pdr+rtv", 3, 7)
    assert config.scaling.pdr.k == 4


def test_a_preset_goes_under_what_the_user_set_however_the_strategy_is_named(tmp_path):
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("scaling:\n  strategy: best_of_n\n  n: 3\n")
    from_file = load_config([str(experiment)])
    assert (from_file.scaling.strategy, from_file.scaling.n, from_file.model.temperature) == ("best_of_n", 3, 0.7)
    flag_wins = load_config([str(experiment)], {"scaling.strategy": "rtv"})
    assert (flag_wins.scaling.strategy, flag_wins.scaling.n, flag_wins.scaling.rtv.votes) == ("rtv", 3, 8)
    assert load_config().model.temperature == 0.0  # no strategy named: no preset


def test_a_file_that_is_neither_config_nor_run_yaml_names_the_key(tmp_path):
    stray = tmp_path / "notes.yaml"
    stray.write_text("run_id: abc\nconfig: 3\n")  # a run_id beside a config that is not a mapping: not a run.yaml
    with pytest.raises(ConfigError, match=r"run_id"):
        load_config([str(stray)])
