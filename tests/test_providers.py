"""Providers as data (configs/providers.yaml) and the user's model catalog: a model id reaches its provider's server
with that provider's key, through the real SDK clients (OpenAI, Anthropic, AnthropicBedrock, AnthropicVertex);
rows of a user catalog add models, prices and providers, merged over the bundled ones."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import CALC_FILES, make_repo
from fake_server import FakeServer, Reply

from codescale.agent.models.base import Model, ModelConfig, ModelError, RetryConfig
from codescale.agent.models.catalog import CatalogError, model_info
from codescale.agent.records import Usage

FAST = RetryConfig(attempts=2, min_wait=0.01, max_wait=0.05)
USER = [{"role": "user", "content": "fix the bug please"}]  # 4 words
KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT",
        "AWS_BEARER_TOKEN_BEDROCK", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
        "AWS_REGION", "AWS_DEFAULT_REGION", "ANTHROPIC_BEDROCK_BASE_URL", "GOOGLE_OAUTH_ACCESS_TOKEN",
        "CLOUD_ML_REGION", "ANTHROPIC_VERTEX_PROJECT_ID", "ANTHROPIC_VERTEX_BASE_URL")


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    for variable in KEYS:
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def user_catalog(tmp_path, monkeypatch):
    """Write the user's catalog (YAML text) and point $CODESCALE_MODELS at it."""
    path = tmp_path / "models.yaml"

    def write(text: str):
        path.write_text(text)
        monkeypatch.setenv("CODESCALE_MODELS", str(path))
        return path

    return write


def test_an_openrouter_id_reaches_the_providers_base_url_with_its_key(fake_server, user_catalog, monkeypatch):
    user_catalog(f"providers:\n  openrouter: {{base_url: '{fake_server.openai_url}'}}\n")  # only the URL changes
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-not-for-openrouter")
    fake_server.replies.append("hello")
    [reply] = Model(ModelConfig(id="openrouter/qwen/qwen3-coder", retries=FAST)).complete(USER)
    [request] = fake_server.requests
    assert (reply.text, request.path, request.api_key) == ("hello", "/v1/chat/completions", "sk-or-test")
    assert request.json["model"] == "qwen/qwen3-coder"


def test_a_provider_with_a_url_of_its_own_needs_its_key_even_at_another_url(fake_server, monkeypatch):
    with pytest.raises(ModelError, match="^openrouter/x: no API key: set the environment variable OPENROUTER_API_KEY$"):
        Model(ModelConfig(id="openrouter/x", base_url=fake_server.openai_url))
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
    fake_server.replies.append("ok")
    Model(ModelConfig(id="openrouter/x", base_url=fake_server.openai_url, retries=FAST)).complete(USER)
    assert fake_server.requests[0].api_key == "sk-or-test"


def test_azure_takes_its_base_url_from_the_resource_endpoint(fake_server, monkeypatch):
    with pytest.raises(ValueError, match=r"azure/my-deployment: set AZURE_OPENAI_ENDPOINT \(its base URL is "
                                         r"\{AZURE_OPENAI_ENDPOINT\}/openai/v1\), or pass --base-url"):
        Model(ModelConfig(id="azure/my-deployment"))
    fake_server.routes[("POST", "/openai/v1/chat/completions")] = fake_server.openai_chat
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", fake_server.url + "/")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key")
    fake_server.replies.append("ok")
    Model(ModelConfig(id="azure/my-deployment", retries=FAST)).complete(USER)
    [request] = fake_server.requests
    assert (request.path, request.api_key, request.json["model"]) == ("/openai/v1/chat/completions", "azure-key",
                                                                      "my-deployment")


BEDROCK = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.mark.parametrize("credentials", ["api_key", "aws_keys"])
def test_bedrock_through_the_sdks_own_client(fake_server, monkeypatch, credentials):
    fake_server.routes[("POST", f"/model/{BEDROCK}/invoke")] = fake_server.anthropic_messages
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    if credentials == "api_key":
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-key")
    else:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    fake_server.replies.append("a b")
    model = Model(ModelConfig(id=f"bedrock/{BEDROCK}", base_url=fake_server.url, retries=FAST))
    [reply] = model.complete(USER)
    [request] = fake_server.requests
    assert reply.text == "a b" and request.json["anthropic_version"]  # the Messages API on Bedrock
    assert "model" not in request.json  # Bedrock names the model in the path
    if credentials == "api_key":
        assert request.headers["authorization"] == "Bearer bedrock-key"
    else:  # signed with SigV4 by botocore
        assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    # the row of claude-sonnet-4-5 prices it: 4 input at $3, 2 output at $15 per million
    assert reply.usage.cost_usd == pytest.approx((4 * 3 + 2 * 15) / 1e6)


def test_vertex_through_the_sdks_own_client(fake_server, monkeypatch):
    name = "claude-sonnet-4-5@20250929"
    path = f"/projects/my-project/locations/us-east5/publishers/anthropic/models/{name}:rawPredict"
    fake_server.routes[("POST", path)] = fake_server.anthropic_messages
    monkeypatch.setenv("CLOUD_ML_REGION", "us-east5")
    monkeypatch.setenv("ANTHROPIC_VERTEX_PROJECT_ID", "my-project")
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.token")
    fake_server.replies.append("ok")
    [reply] = Model(ModelConfig(id=f"vertex/{name}", base_url=fake_server.url, retries=FAST)).complete(USER)
    [request] = fake_server.requests
    assert (request.path, request.headers["authorization"]) == (path, "Bearer ya29.token")
    assert request.json["anthropic_version"] and "model" not in request.json  # Vertex names the model in the path
    assert reply.usage.cost_usd == pytest.approx((4 * 3 + 1 * 15) / 1e6)


def test_vertex_without_a_token_or_google_auth_says_what_to_install(monkeypatch):
    from codescale.agent.models.anthropic_clouds import installed

    if installed("google.auth"):
        pytest.skip("google-auth is installed here")
    monkeypatch.setenv("CLOUD_ML_REGION", "us-east5")
    with pytest.raises(ModelError, match=r"GOOGLE_OAUTH_ACCESS_TOKEN, or Google credentials with google-auth "
                                         r"installed: pip install 'anthropic\[vertex\]'"):
        Model(ModelConfig(id="vertex/claude-sonnet-4-5"))


def test_provider_spellings_find_their_rows():
    assert model_info(f"bedrock/{BEDROCK}").input == 3.00
    assert model_info("vertex/claude-opus-4-5@20251101").output == 25.00
    assert model_info("openrouter/openai/gpt-5-mini").thinking == "effort"
    assert model_info("anthropic/claude-sonnet-4-5-20250929").cache_write == 3.75
    assert model_info("deepseek/deepseek-v3").input is None  # no row: no price, nothing guessed


def test_a_user_catalog_adds_a_model_and_its_price(fake_server, user_catalog):
    user_catalog("models:\n  openai/house-model: {input: 2.0, cached_input: 0.5, output: 8.0}\n"
                 "  gpt-5-mini: {input: 1.0}\n")
    fake_server.replies.extend(["a b c", "x"])
    fake_server.cached_tokens = 2
    [reply] = Model(ModelConfig(id="openai/house-model", base_url=fake_server.openai_url, retries=FAST)).complete(USER)
    # 2 uncached input at $2, 2 cached at $0.50, 3 output at $8 per million tokens
    assert reply.usage.cost_usd == pytest.approx((2 * 2 + 2 * 0.5 + 3 * 8) / 1e6)
    assert reply.usage.model_copy(update={"cost_usd": None}) == Usage(input_tokens=4, cached_input_tokens=2,
                                                                      output_tokens=3, requests=1)
    # a bundled row changed field by field: the user's input price, the bundled output price and capabilities
    merged = model_info("openai/gpt-5-mini")
    assert (merged.input, merged.output, merged.thinking, merged.temperature) == (1.0, 2.00, "effort", False)


def test_a_user_catalog_adds_a_provider(fake_server, user_catalog, monkeypatch):
    user_catalog(f"providers:\n  house: {{api: openai, base_url: '{fake_server.openai_url}', key: HOUSE_KEY}}\n")
    monkeypatch.setenv("HOUSE_KEY", "house-secret")
    fake_server.replies.append("ok")
    Model(ModelConfig(id="house/coder-7b", retries=FAST)).complete(USER)
    assert (fake_server.requests[0].api_key, fake_server.requests[0].json["model"]) == ("house-secret", "coder-7b")


@pytest.mark.parametrize(("text", "message"), [
    ("models:\n  x: {inptu: 1}\n", r"models.yaml: models.x: inptu: Extra inputs are not permitted"),
    ("providers:\n  p: {api: grpc}\n", r"models.yaml: providers.p: api: Input should be 'openai'"),
    ("model:\n  x: {input: 1}\n", r"models.yaml: expected a mapping with models and/or providers"),
    ("models: [1, 2\n", r"models.yaml: not valid YAML"),
])
def test_a_broken_user_catalog_names_the_file_and_the_key(user_catalog, text, message):
    user_catalog(text)
    with pytest.raises(CatalogError, match=message):
        Model(ModelConfig(id="p/x" if "providers" in text else "openai/x", base_url="http://127.0.0.1:9/v1"))


def codescale(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "codescale.eval.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_models_lists_user_rows_with_their_price_and_the_providers(user_catalog):
    path = user_catalog("models:\n  openrouter/qwen/qwen3-coder: {input: 0.22, output: 0.95, reply_tokens: 8192}\n")
    done = codescale("models", "--json", env={"CODESCALE_MODELS": str(path), "OPENROUTER_API_KEY": "sk-or-test"})
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert listing["user_catalog"] == str(path)
    assert listing["models"]["openrouter/qwen/qwen3-coder"] == {"input": 0.22, "output": 0.95, "reply_tokens": 8192,
                                                                "from": "user"}
    assert listing["models"]["claude-sonnet-4-5"]["from"] == "bundled"
    openrouter = listing["providers"]["openrouter"]
    assert (openrouter["base_url"], openrouter["key"], openrouter["key_set"]) == (
        "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", True)
    assert "sk-or-test" not in done.stdout
    table = codescale("models", "qwen3", env={"CODESCALE_MODELS": str(path)})
    assert table.returncode == 0 and "openrouter/qwen/qwen3-coder" in table.stdout and "0.22" in table.stdout
    assert "claude-sonnet-4-5" not in table.stdout.split("Providers")[0]


def test_a_broken_user_catalog_is_one_error_line(user_catalog):
    path = user_catalog("models:\n  x: {inptu: 1}\n")
    done = codescale("models", env={"CODESCALE_MODELS": str(path)})
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"error: model catalog {path}: models.x: inptu")


def test_run_with_an_openrouter_model_reaches_its_server_with_its_key(tmp_path, user_catalog):
    repo, commit = make_repo(tmp_path / "calc", CALC_FILES)
    task = tmp_path / "task.json"
    task.write_text(json.dumps({"instance_id": "calc-1", "problem_statement": "add() subtracts",
                                "repo_dir": str(repo), "base_commit": commit}))
    with FakeServer(replies=["Done.\n```bash\necho CODESCALE_SUBMIT\n```"]) as server:
        path = user_catalog(f"providers:\n  openrouter: {{base_url: '{server.openai_url}'}}\n")
        done = codescale("run", "--task", str(task), "--model", "openrouter/qwen/qwen3-coder", "--sandbox", "local",
                         "--out", str(tmp_path / "run"),
                         env={"CODESCALE_MODELS": str(path), "OPENROUTER_API_KEY": "sk-or-test"})
    assert done.returncode == 0, done.stderr
    assert [(r.api_key, r.json["model"]) for r in server.requests] == [("sk-or-test", "qwen/qwen3-coder")]
    assert "sk-or-test" not in (tmp_path / "run" / "run.yaml").read_text()


def test_reply_with_thinking_via_bedrock_is_counted(fake_server, monkeypatch):
    fake_server.routes[("POST", f"/model/{BEDROCK}/invoke")] = fake_server.anthropic_messages
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-key")
    fake_server.replies.append(Reply("answer", thinking="one two three"))
    [reply] = Model(ModelConfig(id=f"bedrock/{BEDROCK}", base_url=fake_server.url, retries=FAST)).complete(USER)
    assert (reply.thinking, reply.usage.thinking_tokens) == ("one two three", 3)
