"""Agent commands that misbehave, in the Docker sandbox with its default settings: each is contained, and the
sandbox runs the next command (and gives its diff) as if nothing had happened.

Docker only: a fork bomb or a 5 GB file in the local sandbox would hit the host itself (SECURITY.md)."""

from __future__ import annotations

import time
import uuid

import pytest

from conftest import CALC_FILES
from codescale.sandboxes.base import SandboxError
from codescale.sandboxes.docker import RUN_LABEL, DockerSandbox, DockerSandboxConfig, remove_containers
from codescale.sandboxes.lifecycle import settle

FIX = "sed -i 's/a - b/a + b/' calc/ops.py"


@pytest.fixture(params=["session", "exec"])
def make(request, repo_image, docker_client):
    """`make(**settings)`: a Docker sandbox over CALC_FILES, with each shell; on teardown, asserts no container of it
    is left."""
    image, _ = repo_image(CALC_FILES)
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    yield lambda **settings: DockerSandbox(DockerSandboxConfig(shell=request.param, **settings), image=image,
                                           run_id=run_id, name="bad")
    settle()  # removals run in the background; wait for them before looking
    left = docker_client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"})
    remove_containers(run_id)
    assert left == []


def still_works(sandbox: DockerSandbox) -> None:
    """The next command runs, the container holds only its own few processes, and the fix makes a diff."""
    out = sandbox.execute(f"{FIX} && echo fixed")
    assert (out.returncode, out.output) == (0, "fixed\n")
    processes = sandbox.execute("ls -d /proc/[0-9]* | wc -l")
    assert int(processes.output) < 10, processes.output
    assert "+    return a + b" in sandbox.diff()


def refusals(sandbox: DockerSandbox) -> int:
    """How many processes the container has refused so far (its pids limit hit), from its pids cgroup."""
    out = sandbox.execute("cat /sys/fs/cgroup/pids/pids.events 2>/dev/null || cat /sys/fs/cgroup/pids.events")
    return int(out.output.split()[1])


def test_fork_bomb_is_killed_with_all_it_started(make):
    with make() as sandbox:
        start = time.monotonic()
        sandbox.execute("bomb() { bomb | bomb & }; bomb", timeout=30)
        assert time.monotonic() - start < 30
        still_works(sandbox)
        assert refusals(sandbox) > 0  # it did reach the pids limit (its "fork: retry" lines may come after its command)
        again = [sandbox.execute("echo $((1 + 1))").output for _ in range(5)]
        assert again == ["2\n"] * 5


def test_fork_bomb_in_the_foreground_is_killed_at_its_timeout(make):
    with make() as sandbox:
        bomb = sandbox.execute("bomb() { bomb | bomb; }; bomb", timeout=5)
        assert bomb.returncode != 0
        still_works(sandbox)


def test_endless_loop_is_killed_at_its_timeout(make):
    with make() as sandbox:
        start = time.monotonic()
        loop = sandbox.execute("while :; do :; done", timeout=2)
        assert (loop.returncode, loop.timed_out) == (137, True)
        assert time.monotonic() - start < 2 + 5
        still_works(sandbox)


def test_endless_output_is_capped_and_killed(make):
    with make(output_limit=10_000) as sandbox:
        out = sandbox.execute("yes", timeout=3)
        assert out.timed_out
        kept, _, note = out.output.rpartition("[codescale: output truncated, ")
        assert kept == "y\n" * 5_000 and note.endswith("bytes dropped after the first 10000]\n")
        still_works(sandbox)


def test_ten_megabytes_in_one_line_is_capped(make):
    with make() as sandbox:
        out = sandbox.execute("head -c 10000000 /dev/zero | tr '\\0' a; echo")
        assert out.returncode == 0
        assert out.output.startswith("a" * 1_000_000 + "\n[codescale: output truncated, 9000001 more bytes dropped")
        still_works(sandbox)


def test_a_5_gb_file_stops_at_the_fsize_limit(make):
    with make() as sandbox:
        out = sandbox.execute("head -c 5G /dev/zero > big.bin; echo $?; stat -c %s big.bin", timeout=120)
        code, size = out.output.split()[-2:]
        assert int(code) != 0 and "File size limit exceeded" in out.output
        assert int(size) == 1024**3  # the default fsize, not 5 GB
        assert sandbox.execute("rm big.bin").returncode == 0
        still_works(sandbox)


def test_many_files_past_the_disk_limit_end_the_sandbox(make):
    with make(disk_limit="50m") as sandbox:
        with pytest.raises(SandboxError, match=r"past its disk_limit of 50m"):
            sandbox.execute("for i in $(seq 80); do head -c 1M /dev/zero > f$i.bin; done")


def test_a_process_ignoring_sigterm_is_killed_at_its_timeout(make):
    with make() as sandbox:
        start = time.monotonic()
        out = sandbox.execute("trap '' TERM; echo stubborn; while :; do sleep 0.1; done", timeout=2)
        assert (out.returncode, out.timed_out, out.output) == (137, True, "stubborn\n")
        assert time.monotonic() - start < 2 + 5
        still_works(sandbox)


def test_a_command_that_closes_its_output_early_still_finishes(make):
    with make() as sandbox:
        out = sandbox.execute("echo before; exec >&- 2>&-; sleep 1; touch finished; exit 3")
        assert (out.returncode, out.output) == (3, "before\n")
        assert sandbox.execute("ls finished").returncode == 0
        piped = sandbox.execute("yes | head -n 2")
        assert (piped.returncode, piped.output) == (0, "y\ny\n")
        assert sandbox.execute("rm finished").returncode == 0
        still_works(sandbox)


def test_binary_output_is_decoded_with_replacements(make):
    with make() as sandbox:
        out = sandbox.execute("printf 'ok\\000\\377\\376\\033[2J\\n'")
        assert out.returncode == 0 and out.output == "ok\x00\ufffd\ufffd\x1b[2J\n"
        still_works(sandbox)


def test_a_background_process_left_running_does_not_hold_up_diff_or_close(make, docker_client):
    with make() as sandbox:
        start = time.monotonic()
        out = sandbox.execute("sleep 1000 & echo started")
        assert (out.returncode, out.output) == (0, "started\n")
        assert time.monotonic() - start < 5
        assert sandbox.execute("ps -e -o comm | grep -c '^sleep$'").output == "2\n"  # the start command's and it
        assert sandbox.execute(f"{FIX}").returncode == 0
        assert "+    return a + b" in sandbox.diff()
        name = sandbox.container_name
    settle()
    assert docker_client.containers.list(all=True, filters={"name": name}) == []


def test_what_a_background_process_writes_later_is_no_later_commands_output(make):
    with make() as sandbox:
        sandbox.execute("(for i in $(seq 300); do echo noise; sleep 0.01; done) &")
        assert [sandbox.execute(f"echo {i}").output for i in range(5)] == [f"{i}\n" for i in range(5)]


def test_a_command_that_kills_the_shell_running_it_only_ends_itself(make):
    with make() as sandbox:
        start = time.monotonic()
        out = sandbox.execute("pkill -KILL -x bash; sleep 1; echo after", timeout=30)
        assert out.returncode == 137 and not out.timed_out
        assert time.monotonic() - start < 10
        still_works(sandbox)


def test_a_stopped_shell_counts_as_a_timeout(make):
    with make() as sandbox:
        start = time.monotonic()
        out = sandbox.execute("pkill -STOP -x bash; echo stopped", timeout=2)
        assert (out.returncode, out.timed_out) == (137, True)
        assert time.monotonic() - start < 2 + 10
        still_works(sandbox)


def test_wiping_tmp_changes_nothing_for_the_next_command(make):
    with make() as sandbox:
        assert sandbox.execute("rm -rf /tmp/* /tmp/.[!.]* && ls -A /tmp | wc -l").output == "0\n"
        still_works(sandbox)


def test_killing_every_process_ends_the_sandbox_without_a_hang(make):
    with make() as sandbox:
        start = time.monotonic()
        out = sandbox.execute("kill -KILL -1", timeout=30)  # the container's own process too: the container stops
        assert out.returncode == 137
        with pytest.raises(SandboxError):
            while time.monotonic() - start < 15:  # the container may take a moment to be seen stopped
                sandbox.execute("echo more")
                time.sleep(0.2)
