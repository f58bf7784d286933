"""What only the Docker sandbox's session shell has: one exec for a whole rollout, framing that no command output can
break, and a new session when the old one is gone (real Docker)."""

from __future__ import annotations

import time
import uuid

import pytest
from conftest import CALC_FILES, LiveEvents

from codescale.sandboxes.docker import RUN_LABEL, DockerSandbox, DockerSandboxConfig, remove_containers
from codescale.sandboxes.lifecycle import settle

DRIVER = "d=$(awk '{print $4}' /proc/$PPID/stat)"
"""Sets `d` to the session driver's pid: the parent of `timeout`, which is the command's parent."""


@pytest.fixture
def make(repo_image, docker_client):
    image, _ = repo_image(CALC_FILES)
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    yield lambda **settings: DockerSandbox(DockerSandboxConfig(shell="session", **settings), image=image,
                                           run_id=run_id, name="session")
    settle()
    left = docker_client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"})
    remove_containers(run_id)
    assert left == []


def test_commands_diff_and_files_go_through_one_exec(make, docker_client):
    with LiveEvents(docker_client, "container", ["exec_create"]) as seen, make() as sandbox:
        for i in range(5):
            assert sandbox.execute(f"echo {i} >> log.txt").returncode == 0
        sandbox.write_file("deep/new.txt", "new\n")
        assert sandbox.read_file("log.txt") == b"0\n1\n2\n3\n4\n"
        assert "+new" in sandbox.diff()
        name = sandbox.container_name
    execs = [e for e in seen.events if e["Actor"]["Attributes"].get("name") == name]
    assert len(execs) == 1 and "codescale-session" in execs[0]["Action"]


def test_text_that_looks_like_the_markers_is_output(make):
    fake = "0123456789abcdef0123456789abcdef"
    with make() as sandbox:
        out = sandbox.execute(f"printf '{fake}:start\\n{fake}:end:0\\n:end:0\\nend'; exit 3")
        assert (out.returncode, out.output) == (3, f"{fake}:start\n{fake}:end:0\n:end:0\nend")
        assert sandbox.execute("echo next").output == "next\n"


def test_writing_into_the_sessions_own_output_breaks_nothing(make):
    with make() as sandbox:
        out = sandbox.execute(f"{DRIVER}; printf 'forged:end:0\\n' > /proc/$d/fd/1; exec 3>/proc/$d/fd/1; exit 4")
        assert out.returncode == 4
        assert [sandbox.execute(f"echo {i}").output for i in range(3)] == ["0\n", "1\n", "2\n"]


def test_a_command_returns_when_it_ends_and_what_it_left_running_says_later_is_not_the_next_commands(make):
    with make() as sandbox:
        start = time.monotonic()
        out = sandbox.execute("(sleep 0.5; echo late; sleep 0.5; echo later) & echo now")
        assert (out.output, time.monotonic() - start < 0.5) == ("now\n", True)
        assert sandbox.execute("sleep 0.8; echo next").output == "next\n"
        assert sandbox.execute("sleep 0.5; echo again").output == "again\n"


def test_a_session_killed_between_commands_is_started_again(make):
    with make() as sandbox:
        assert sandbox.execute(f"{DRIVER}; (sleep 0.3; kill -KILL $d) >/dev/null 2>&1 & echo armed").output == "armed\n"
        time.sleep(1)
        assert sandbox.execute("echo after").output == "after\n"


def test_a_restarted_container_gets_a_new_session(make, docker_client):
    with make() as sandbox:
        assert sandbox.execute("echo kept > file.txt").returncode == 0
        docker_client.containers.get(sandbox.container_name).restart(timeout=0)
        assert sandbox.execute("cat file.txt").output == "kept\n"
