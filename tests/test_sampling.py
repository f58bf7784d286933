"""Sampling strategies sample: the presets' temperature, the warning at temperature 0, diversity per generation."""

from __future__ import annotations

import json

import yaml
from conftest import write_calc_task
from fake_server import FakeServer
from scaling_script import ScalingScript
from test_cli import codescale
from test_pdr import COMMANDS

from codescale.scaling.sampling import diversity



def run_rtv(tmp_path, *options):
    """`codescale run --strategy rtv -c scaling.n=8` against a scripted server; (process, run dir, agent bodies)."""
    script = ScalingScript(["fix", "wrong", "other", "empty"] * 2, COMMANDS)
    out = tmp_path / "run"
    with FakeServer(responder=script) as server:
        done = codescale("run", "--task", str(write_calc_task(tmp_path)), "--base-url", server.openai_url,
                         "--sandbox", "local", "--strategy", "rtv", "-c", "scaling.n=8", "-c", "scaling.concurrency=2", *options,
                         "--out", str(out))
        agent = [r.json for r, kind in zip(server.requests, script.kinds) if kind == "agent"]
    return done, out, agent


def test_rtv_preset_samples_every_rollout_and_records_diversity(tmp_path):
    done, out, agent = run_rtv(tmp_path, "--model", "openai/fake")
    assert done.returncode == 0, done.stderr
    assert "warning:" not in done.stderr
    first = [b for b in agent if len(b["messages"]) == 2]
    assert len(first) == 8 and all(b["temperature"] > 0 for b in agent)
    [result] = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert result["diversity"] == [3 / 8]  # fix, wrong, other twice each; two empty patches
    assert "warnings" not in yaml.safe_load((out / "run.yaml").read_text())


def test_a_model_whose_row_forbids_temperature_gets_none(tmp_path):
    done, _, agent = run_rtv(tmp_path, "--model", "openai/gpt-5-mini")
    assert done.returncode == 0, done.stderr
    assert len(agent) >= 8 and all("temperature" not in b for b in agent)
    assert "warning:" not in done.stderr


def test_n_rollouts_at_temperature_zero_warn_once_and_run_yaml_says_so(tmp_path):
    done, out, agent = run_rtv(tmp_path, "--model", "openai/fake", "-c", "model.temperature=0")
    assert done.returncode == 0, done.stderr
    assert all(b["temperature"] == 0 for b in agent)
    assert done.stderr.count("warning:") == 1 and "8 rollouts per task at model.temperature 0" in done.stderr
    (warning,) = yaml.safe_load((out / "run.yaml").read_text())["warnings"]
    assert "temperature 0" in warning


def test_diversity_counts_distinct_non_empty_patches():
    a, b = "diff --git a/x b/x\n+1\n", "diff --git a/x b/x\n+2\n"
    assert diversity([a, a + "\n", b, "", "  "]) == 2 / 5
    assert diversity(["", ""]) == 0 and diversity([]) == 0
