"""The config merge: defaults, -c files, -c key=value, flags; errors name the key or file at fault."""

import pytest

from codescale.eval.runs.config import ConfigError, load_config


def test_defaults_come_from_configs():
    config = load_config()
    assert config.agent.step_limit == 100
    assert config.agent.submit_sentinel == "CODESCALE_SUBMIT"
    assert config.sandbox["kind"] == "docker"
    assert config.scaling.strategy == "single"


def test_overrides_apply_in_order_and_flags_win(tmp_path):
    file = tmp_path / "exp.yaml"
    file.write_text("agent:\n  step_limit: 7\n  time_limit: 30\nmodel:\n  temperature: 0.5\n")
    config = load_config(
        [str(file), "agent.step_limit=9", "model.retries.attempts=2"],
        {"model.id": "vllm/Qwen/Qwen3-8B", "model.base_url": None},
    )
    assert (config.agent.step_limit, config.agent.time_limit) == (9, 30)
    assert config.model.temperature == 0.5
    assert config.model.retries.attempts == 2
    assert config.model.id == "vllm/Qwen/Qwen3-8B"
    assert config.model.base_url is None


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"agent\.stepz"):
        load_config(["agent.stepz=3"])


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"agent\.step_limit"):
        load_config(["agent.step_limit=many"])


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: no such file"):
        load_config([str(tmp_path / "nope.yaml")])


def test_unknown_sandbox_lists_known_ones():
    with pytest.raises(ConfigError, match="unknown sandbox 'vm'; known: docker, local"):
        load_config(["sandbox.kind=vm"])


def test_sandbox_settings_are_validated_against_the_chosen_sandbox():
    with pytest.raises(ConfigError, match=r"sandbox\.memroy"):
        load_config(["sandbox.memroy=4g"])
    assert load_config(["sandbox.memory=4g"]).sandbox["memory"] == "4g"
