"""The demo's choices, shown without the embedded model (tests/test_local_model.py runs it with the real one): Docker
unless --sandbox local is asked for, its base image named or made, and the agent's calls alone held to the wire format
by the grammar."""

from __future__ import annotations

import os

import pytest
import yaml
from fake_server import FakeServer
from scaling_script import ScalingScript
from test_cli import codescale, one_error_line

from codescale import configs


def test_without_a_docker_engine_the_demo_stops_and_names_the_local_sandbox(tmp_path):
    done = codescale("demo", "--out", str(tmp_path / "o"),
                     env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path / 'no-engine.sock'}"})
    line = one_error_line(done)
    assert "the demo runs in Docker, and no Docker engine answers here" in line
    assert "pass --sandbox local to run the model's commands on this machine, NOT isolated" in line
    assert not (tmp_path / "o").exists()


def test_a_named_base_image_that_is_missing_is_named_with_how_to_make_one(docker_client, tmp_path):
    done = codescale("demo", "--base-image", "codescale-test/absent-base:404", "--out", str(tmp_path / "o"))
    line = one_error_line(done)
    assert "the base image codescale-test/absent-base:404 is not here" in line
    assert "`codescale tasks base-image` makes codescale/base:bookworm" in line
    assert not (tmp_path / "o").exists()


def test_the_grammar_allows_one_bash_block_after_a_line_of_reasoning():
    grammar = configs.load("demo")["model"]["extra_body"]["grammar"]
    rules = dict(line.split(" ::= ", 1) for line in grammar.strip().splitlines())
    assert rules["root"] == '(reasoning "\\n")? "```bash\\n" command "\\n```"'
    assert rules["reasoning"] == "[^`\\n]{1,200}"  # bounded: a reply cannot reason past max_tokens without a block
    assert rules["line"] == "[^`\\n] [^\\n]*"  # no line of the command opens a fence: exactly one block


class DemoScript(ScalingScript):
    """The scaling script, answering the demo's speed probe (one user message) too."""

    def __call__(self, body: dict):
        if len(body["messages"]) == 1:
            return "1 2 3 4 5"
        return super().__call__(body)


@pytest.mark.slow
def test_only_the_agents_calls_carry_the_grammar(docker_client, base_image, tmp_path):
    fix = "sed -i 's/^ZERO_CELSIUS_IN_KELVIN = 273$/ZERO_CELSIUS_IN_KELVIN = 273.15/' thermo/scales.py"
    script = DemoScript(["fix", "look"], {"fix": [fix], "look": ["ls"]})
    with FakeServer(responder=script) as server:
        done = codescale("demo", "--model", "openai/fake", "-c", f"model.base_url={server.openai_url}",
                         "--task", "codescale__thermo-1", "--n", "1", "--base-image", base_image,
                         "--out", str(tmp_path / "demo"), "--no-live")
        bodies = [request.json for request in server.requests if request.path.endswith("/chat/completions")]
    assert done.returncode == 0, done.stderr
    grammar = configs.load("demo")["model"]["extra_body"]["grammar"]
    judge_or_summarizer = ("You review attempts", "You summarize one attempt")
    calls = [body for body in bodies if len(body["messages"]) > 1]  # the speed probe left out
    agent = [body for body in calls if not body["messages"][0]["content"].startswith(judge_or_summarizer)]
    others = [body for body in calls if body["messages"][0]["content"].startswith(judge_or_summarizer)]
    assert agent and others
    assert all(body.get("grammar") == grammar for body in agent)
    assert all("grammar" not in body for body in others)
    saved = yaml.safe_load((tmp_path / "demo" / "run.yaml").read_text())["config"]
    assert saved["model"]["extra_body"]["grammar"] == grammar  # recorded: a replay sends it too
    assert "grammar" not in saved["scaling"]["judge"]["model"]["extra_body"]
