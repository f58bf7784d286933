"""One conformance suite for every sandbox (real Docker, real git), plus what only one of them has."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import pytest
from pydantic import ValidationError

from conftest import CALC_FILES, make_repo
from codescale.agent.records import Task
from codescale.agent.rollout import open_sandbox
from codescale.sandboxes.base import SandboxError
from codescale.sandboxes.docker import RUN_LABEL, DockerSandbox, DockerSandboxConfig, remove_containers
from codescale.sandboxes.lifecycle import settle
from codescale.sandboxes.local import LocalSandbox, LocalSandboxConfig

FIXED_ADD = CALC_FILES["calc/ops.py"].replace("a - b", "a + b")
BINARY = bytes(range(256)) * 4


def blob_id(text: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(text) + text).hexdigest()


@dataclass
class Kind:
    """How to build one implementation's sandbox over CALC_FILES, and how to see what it leaves behind."""

    make: Callable[..., Any]
    leftovers: Callable[[Any], list]
    run_id: str


@pytest.fixture(params=["docker-session", "docker-exec", "local"])
def kind(request, tmp_path) -> Kind:
    """Each implementation: the Docker sandbox with each of its shells, and the local one."""
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    if request.param.startswith("docker"):
        client = request.getfixturevalue("docker_client")
        image, _ = request.getfixturevalue("repo_image")(CALC_FILES)
        shell = request.param.removeprefix("docker-")

        def make(**settings):
            return DockerSandbox(DockerSandboxConfig(shell=shell, **settings), image=image, run_id=run_id,
                                 name="conformance")

        def leftovers(sandbox):
            settle()  # removals run in the background
            return client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"})

        yield Kind(make, leftovers, run_id)
        remove_containers(run_id)
    else:
        repo, _ = make_repo(tmp_path / "repo", CALC_FILES)

        def make(**settings):
            return LocalSandbox(LocalSandboxConfig(**settings), repo_dir=str(repo), run_id=run_id, name="conformance")

        def leftovers(sandbox):
            return [sandbox.root] if sandbox.root.exists() else []

        yield Kind(make, leftovers, run_id)


def test_execute_returns_output_and_returncode(kind):
    with kind.make() as sandbox:
        out = sandbox.execute("echo out; echo err >&2; exit 3")
    assert (out.returncode, out.output, out.timed_out) == (3, "out\nerr\n", False)


def test_commands_share_files_but_not_shell_state(kind):
    with kind.make() as sandbox:
        assert sandbox.execute("cd calc && export FOO=1 && echo kept > note.txt").returncode == 0
        assert sandbox.execute("pwd; echo ${FOO-unset}; cat calc/note.txt").output == f"{sandbox.workdir}\nunset\nkept\n"


def test_timeout_kills_the_command_and_its_children(kind):
    with kind.make() as sandbox:
        start = time.monotonic()
        out = sandbox.execute("sleep 100 & echo $! > bg.pid; echo started; sleep 100", timeout=1)
        seconds = time.monotonic() - start
        alive = sandbox.execute(
            "s=$(awk '/^State:/ {print $2}' /proc/$(cat bg.pid)/status 2>/dev/null); "
            "if [ -n \"$s\" ] && [ \"$s\" != Z ]; then echo alive; else echo dead; fi"  # a zombie is dead
        )
    assert (out.returncode, out.output, out.timed_out) == (137, "started\n", True)
    assert seconds < 4
    assert alive.output == "dead\n"


def test_a_command_reads_an_empty_stdin(kind):
    with kind.make() as sandbox:
        out = sandbox.execute("cat; read -r line; echo \"[$line] $?\"")
        assert (out.returncode, out.output) == (0, "[] 1\n")
        assert sandbox.execute("echo next").output == "next\n"


def test_a_long_command_line_runs_whole(kind):
    text = "".join(f"line {i}: {'x' * 90}\n" for i in range(1000))  # 100 kB
    with kind.make() as sandbox:
        out = sandbox.execute(f"cat > long.txt <<'EOF'\n{text}EOF\nsha256sum < long.txt")
    assert out.output.split()[0] == hashlib.sha256(text.encode()).hexdigest()


def test_output_is_capped_and_the_rest_counted(kind):
    with kind.make(output_limit=1000) as sandbox:
        start = time.monotonic()
        out = sandbox.execute("yes | head -c 5000000; echo done >&2")
        seconds = time.monotonic() - start
    assert out.returncode == 0
    assert out.output == "y\n" * 500 + "[codescale: output truncated, 4999005 more bytes dropped after the first 1000]\n"
    assert seconds < 10


def test_diff_has_edits_and_new_untracked_files(kind):
    with kind.make() as sandbox:
        sandbox.execute("sed -i 's/a - b/a + b/' calc/ops.py && mkdir notes && echo hello > notes/new.txt")
        patch = sandbox.diff()
    old, new = CALC_FILES["calc/ops.py"].encode(), FIXED_ADD.encode()
    assert patch == (
        "diff --git a/calc/ops.py b/calc/ops.py\n"
        f"index {blob_id(old)[:7]}..{blob_id(new)[:7]} 100644\n"
        "--- a/calc/ops.py\n+++ b/calc/ops.py\n"
        "@@ -1,5 +1,5 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n \n \n def mul(a, b):\n"
        "diff --git a/notes/new.txt b/notes/new.txt\n"
        "new file mode 100644\n"
        f"index 0000000..{blob_id(b'hello' + bytes([10]))[:7]}\n"
        "--- /dev/null\n+++ b/notes/new.txt\n"
        "@@ -0,0 +1 @@\n+hello\n"
    )


def test_diff_is_empty_when_nothing_changed(kind):
    with kind.make() as sandbox:
        sandbox.execute("cat calc/ops.py > /dev/null")
        assert sandbox.diff() == ""


def test_diff_leaves_the_agents_index_alone(kind):
    with kind.make() as sandbox:
        sandbox.execute("echo x >> calc/ops.py && touch new.txt && git add calc/ops.py")
        before = sandbox.execute("git status --porcelain").output
        sandbox.diff()
        after = sandbox.execute("git status --porcelain").output
    assert before == after == "M  calc/ops.py\n?? new.txt\n"


def test_diff_counts_from_the_start_even_after_an_agent_commit(kind):
    with kind.make() as sandbox:
        sandbox.execute(
            "sed -i 's/a - b/a + b/' calc/ops.py && git -c user.name=a -c user.email=a@b.invalid commit -qam fix"
        )
        patch = sandbox.diff()
    assert "-    return a - b\n+    return a + b\n" in patch


def test_diff_is_binary_safe(kind):
    encoded = base64.b64encode(BINARY).decode()
    with kind.make() as sandbox:
        sandbox.execute(f"echo {encoded} | base64 -d > blob.bin")
        patch = sandbox.diff()
        sandbox.execute("rm blob.bin")
        applied = sandbox.execute(f"echo {base64.b64encode(patch.encode()).decode()} | base64 -d | git apply && sha256sum blob.bin")
    assert "GIT binary patch" in patch
    assert applied.output == f"{hashlib.sha256(BINARY).hexdigest()}  blob.bin\n"


def test_close_removes_everything_and_can_be_repeated(kind):
    sandbox = kind.make()
    with sandbox:
        assert len(kind.leftovers(sandbox)) == 1
    assert kind.leftovers(sandbox) == []
    sandbox.close()


def test_keyboard_interrupt_still_cleans_up(kind):
    sandbox = kind.make()
    with pytest.raises(KeyboardInterrupt):
        with sandbox:
            sandbox.execute("true")
            raise KeyboardInterrupt
    assert kind.leftovers(sandbox) == []


def test_host_environment_does_not_leak(kind, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    with kind.make(env={"GREETING": "hi"}) as sandbox:
        env = sandbox.execute("env").output
    assert "OPENAI_API_KEY" not in env and "sk-must-not-leak" not in env
    assert "GREETING=hi\n" in env


# Docker only


@pytest.fixture
def calc_image(repo_image) -> str:
    return repo_image(CALC_FILES)[0]


def test_docker_has_no_network_and_its_limits(calc_image, docker_client):
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    with DockerSandbox(DockerSandboxConfig(), image=calc_image, run_id=run_id, name="r1") as sandbox:
        interfaces = sandbox.execute("ls /sys/class/net").output
        attrs = docker_client.containers.get(sandbox.container_name).attrs
    host = attrs["HostConfig"]
    assert interfaces == "lo\n"
    assert (host["NetworkMode"], host["Memory"], host["NanoCpus"], host["PidsLimit"]) == ("none", 2 * 1024**3, 10**9, 512)
    assert (host["CapDrop"], host["CapAdd"], host["SecurityOpt"]) == (["ALL"], None, ["no-new-privileges:true"])
    assert host["Ulimits"] == [{"Name": "nofile", "Hard": 8192, "Soft": 8192},
                               {"Name": "fsize", "Hard": 1024**3, "Soft": 1024**3}]
    assert {k: v for k, v in attrs["Config"]["Labels"].items() if k.startswith("codescale.")} == {
        "codescale.run_id": run_id, "codescale.sandbox": "r1",
    }


def test_docker_root_has_no_capabilities_by_default(calc_image):
    with DockerSandbox(DockerSandboxConfig(), image=calc_image, run_id=f"test-{uuid.uuid4().hex[:10]}") as sandbox:
        status = sandbox.execute("grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status").output
        chown = sandbox.execute("touch x && chown 1000 x")
        ulimits = sandbox.execute("ulimit -n; ulimit -f").output
    assert status.split() == ["CapEff:", "0" * 16, "CapBnd:", "0" * 16, "NoNewPrivs:", "1"]
    assert chown.returncode != 0 and "Operation not permitted" in chown.output
    assert ulimits == f"8192\n{1024**3 // 1024}\n"  # ulimit -f counts KiB


class Chowning(Task):
    """A kind of task whose tests chown files: it may ask for CHOWN."""

    capabilities: ClassVar[tuple[str, ...]] = ("CHOWN",)


def test_a_task_tightens_its_sandbox_and_takes_only_capabilities_its_kind_allows(calc_image):
    task = Chowning(instance_id="calc-1", problem_statement="-", image=calc_image,
                    sandbox={"cap_add": ["CHOWN"], "pids_limit": 64})
    with open_sandbox(task, {"kind": "docker"}, run_id=f"test-{uuid.uuid4().hex[:10]}", name="t") as sandbox:
        assert sandbox.execute("touch x && chown 1000 x").returncode == 0
        assert sandbox.execute("ls /sys/class/net").output == "lo\n"
        assert sandbox.execute("cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max").output == "64\n"
    with pytest.raises(ValidationError, match="may not add the capabilities CHOWN"):
        Task(instance_id="calc-1", problem_statement="-", image=calc_image, sandbox={"cap_add": ["CHOWN"]})
    opened = task.model_copy(update={"sandbox": {"network": "bridge"}})  # not validated: open_sandbox checks again
    with pytest.raises(SandboxError, match="task calc-1: field 'sandbox': may not set network"):
        open_sandbox(opened, {"kind": "docker"}, run_id="x", name="t")
    wrong = task.model_copy(update={"sandbox": {"fsize": "huge"}})
    with pytest.raises(SandboxError, match=r"task calc-1: field 'sandbox': not a size: 'huge'"):
        open_sandbox(wrong, {"kind": "docker"}, run_id="x", name="t")


def test_docker_missing_image_is_one_clear_error(docker_client, calc_image):
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    message = "Docker image 'codescale-test/absent:nope' not found locally (build it, or set pull: true)"
    assert DockerSandbox.check(DockerSandboxConfig(), image="codescale-test/absent:nope") == message
    assert DockerSandbox.check(DockerSandboxConfig(), image=calc_image) is None
    with pytest.raises(SandboxError) as error:
        with DockerSandbox(DockerSandboxConfig(), image="codescale-test/absent:nope", run_id=run_id):
            pass
    assert str(error.value) == message
    assert docker_client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}) == []


def test_remove_containers_removes_a_runs_leftovers(calc_image, docker_client):
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    left = [DockerSandbox(DockerSandboxConfig(), image=calc_image, run_id=run_id, name=f"r{i}").__enter__() for i in range(2)]
    assert remove_containers(run_id) == 2
    assert docker_client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}) == []
    assert remove_containers(run_id) == 0
    for sandbox in left:
        sandbox.close()


# Local only


def test_local_environment_is_only_path_home_lang_and_config(tmp_path):
    repo, _ = make_repo(tmp_path / "repo", CALC_FILES)
    with LocalSandbox(LocalSandboxConfig(env={"GREETING": "hi"}), repo_dir=str(repo), run_id="t") as sandbox:
        names = sandbox.execute("env -0 | tr '\\0' '\\n' | cut -d= -f1 | sort").output.split()
        home = sandbox.execute("echo $HOME").output
    assert names == ["GREETING", "HOME", "LANG", "PATH", "PWD", "SHLVL", "_"]
    assert home == f"{sandbox.root}\n"


def test_local_at_a_given_commit_leaves_the_repo_alone(tmp_path):
    repo, first = make_repo(tmp_path / "repo", CALC_FILES)
    (repo / "calc/ops.py").write_text(FIXED_ADD)  # uncommitted in the user's repo: not copied
    with LocalSandbox(LocalSandboxConfig(), repo_dir=str(repo), base_commit=first, run_id="t") as sandbox:
        seen = sandbox.execute("git rev-parse HEAD; grep -c 'a - b' calc/ops.py; git remote").output
        sandbox.execute("echo more >> calc/__init__.py")
    assert seen == f"{first}\n1\n"
    assert (repo / "calc/__init__.py").read_text() == ""


def test_local_rejects_a_directory_that_is_not_a_repository(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    repo, _ = make_repo(tmp_path / "repo", CALC_FILES)
    assert LocalSandbox.check(LocalSandboxConfig(), repo_dir=str(repo)) is None
    assert f"git rev-parse failed in {plain} " in LocalSandbox.check(LocalSandboxConfig(), repo_dir=str(plain))
    with pytest.raises(SandboxError, match=f"failed in {plain} "):
        with LocalSandbox(LocalSandboxConfig(), repo_dir=str(plain), run_id="t"):
            pass


def test_write_file_then_read_it_back_and_run_it(kind):
    with kind.make() as sandbox:
        sandbox.write_file("deep/er/blob.bin", BINARY)
        sandbox.write_file("calc/ops.py", FIXED_ADD)
        assert sandbox.read_file("deep/er/blob.bin") == BINARY
        assert sandbox.execute("sha1sum deep/er/blob.bin").output.split()[0] == hashlib.sha1(BINARY).hexdigest()
        assert sandbox.execute("git diff --stat -- calc/ops.py").output.strip().startswith("calc/ops.py | 2 +-")
        assert sandbox.read_file(f"{sandbox.workdir}/calc/ops.py") == FIXED_ADD.encode()  # absolute paths too


def test_read_file_of_a_missing_file_is_a_sandbox_error(kind):
    with kind.make() as sandbox:
        with pytest.raises(SandboxError, match="nothing-here.txt"):
            sandbox.read_file("nothing-here.txt")


def test_end_processes_stops_what_the_commands_left_running_and_the_sandbox_goes_on(kind):
    with kind.make() as sandbox:
        if isinstance(sandbox, LocalSandbox):  # its processes are this machine's: it says it cannot
            with pytest.raises(SandboxError, match="cannot stop the processes"):
                sandbox.end_processes()
            return
        left = sandbox.execute("setsid nohup sleep 300 >/dev/null 2>&1 </dev/null & echo kept > kept.txt; sleep 0.2; "
                               "pgrep -fx 'sleep 300' >/dev/null && echo running")
        assert left.output == "running\n"
        sandbox.end_processes()
        after = sandbox.execute("pgrep -fx 'sleep 300' || echo none; cat kept.txt")
        assert (after.returncode, after.output) == (0, "none\nkept\n")
        assert "+kept" in sandbox.diff()
        sandbox.end_processes()  # again, with nothing left running
        assert sandbox.execute("echo again").output == "again\n"


def test_local_sandbox_refuses_files_outside_its_directory(tmp_path):
    repo, _ = make_repo(tmp_path / "repo", CALC_FILES)
    with LocalSandbox(LocalSandboxConfig(), repo_dir=str(repo), run_id="t", name="t") as sandbox:
        with pytest.raises(SandboxError, match="outside the sandbox"):
            sandbox.write_file("../../escaped.txt", "x")
        with pytest.raises(SandboxError, match="outside the sandbox"):
            sandbox.read_file("/etc/hostname")
    assert not (tmp_path / "escaped.txt").exists()
