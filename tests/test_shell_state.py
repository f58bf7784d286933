"""`agent.shell_state: persistent`: what a command leaves in its shell carries over to the next, in the session shell
of the Docker sandbox (real Docker, fake model server). `fresh` is the conformance suite's default."""

from __future__ import annotations

import uuid
from functools import partial

import pytest
from conftest import CALC_FILES
from fake_server import FakeServer

from codescale.agent.loop import AgentConfig
from codescale.agent.models.base import ModelConfig
from codescale.agent.records import Task
from codescale.agent.rollout import RolloutConfig, run_rollout
from codescale.eval.runs.config import ConfigError, load_config
from codescale.sandboxes.base import SandboxError
from codescale.sandboxes.docker import DockerSandbox, DockerSandboxConfig, remove_containers
from codescale.sandboxes.lifecycle import settle


def kept(sandbox):
    """`execute` as the agent calls it with `shell_state: persistent`."""
    return partial(sandbox.execute, persistent=True)


@pytest.fixture
def persistent(repo_image):
    image, _ = repo_image(CALC_FILES)
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    yield lambda: DockerSandbox(DockerSandboxConfig(shell="session"), image=image, run_id=run_id, name="state")
    settle()
    remove_containers(run_id)


def test_directory_variables_functions_aliases_and_options_carry_over(persistent):
    with persistent() as sandbox:
        sh = kept(sandbox)
        first = sh("cd calc && export SHOWN=1 && KEPT='a b' && f() { echo f:$1; } && alias l='ls -d' "
                                "&& set -o pipefail && umask 077")
        assert (first.returncode, first.output) == (0, "")
        out = sh("pwd; echo $SHOWN $KEPT; env | grep -c KEPT; f x; l ops.py; set -o | grep -c 'pipefail.*on'; umask")
        assert out.output == "/testbed/calc\n1 a b\n0\nf:x\nops.py\n1\n0077\n"
        sh("unset SHOWN; export KEPT; cd /")
        assert sh("pwd; echo ${SHOWN-unset}; env | grep KEPT").output == "/\nunset\nKEPT=a b\n"


def test_a_variable_of_the_image_environment_stays_unset(persistent):
    with persistent() as sandbox:
        sh = kept(sandbox)
        assert sh("echo ${HOME:+set}").output == "set\n"
        sh("unset HOME")
        assert sh("echo ${HOME-unset}").output == "unset\n"


def test_a_command_killed_at_its_timeout_or_that_exits_leaves_the_state_as_it_was(persistent):
    with persistent() as sandbox:
        sh = kept(sandbox)
        sh("cd calc && X=1")
        killed = sh("cd /tmp && X=2 && sleep 10", timeout=1)
        assert killed.timed_out
        assert sh("pwd; echo $X").output == "/testbed/calc\n1\n"
        assert sh("cd /tmp; X=3; exit 5").returncode == 5
        assert sh("pwd; echo $X").output == "/testbed/calc\n1\n"


def test_a_fresh_command_between_neither_sees_nor_changes_the_kept_state(persistent):
    with persistent() as sandbox:
        sh = kept(sandbox)
        sh("cd calc && X=1")
        assert sandbox.execute("pwd; echo ${X-unset}; cd /; X=2").output == "/testbed\nunset\n"
        assert sh("pwd; echo $X").output == "/testbed/calc\n1\n"


def test_the_diff_and_files_do_not_depend_on_where_the_agent_stands(persistent):
    with persistent() as sandbox:
        sh = kept(sandbox)
        sh("cd /tmp && sed -i 's/a - b/a + b/' /testbed/calc/ops.py")
        sandbox.write_file("notes.txt", "n\n")
        assert sandbox.read_file("notes.txt") == b"n\n"
        patch = sandbox.diff()
        assert "+    return a + b" in patch and "+n" in patch
        assert sh("pwd").output == "/tmp\n"


def test_after_end_processes_the_kept_state_starts_afresh(persistent):
    with persistent() as sandbox:
        sh = kept(sandbox)
        sh("cd calc && X=1 && sleep 300 &")
        sandbox.end_processes()  # the verifier's: the container restarts, and the session's driver with it
        assert sh("pwd; echo ${X-unset}; pgrep -fx 'sleep 300' || echo none").output == "/testbed\nunset\nnone\n"
        sh("cd calc && X=2")
        assert sh("pwd; echo $X").output == "/testbed/calc\n2\n"


def test_a_lost_session_says_so_and_starts_afresh(persistent):
    with persistent() as sandbox:
        sh = kept(sandbox)
        sh("cd calc && X=1")
        out = sh("d=$(awk '{print $4}' /proc/$PPID/stat); kill -KILL $d; sleep 1", timeout=30)
        assert out.returncode == 137 and not out.timed_out
        assert out.output.endswith("[codescale: the shell session ended during this command; the next command starts in a "
                                   "new one, with a fresh shell state (directory, variables, functions)]\n")
        assert sh("pwd; echo ${X-unset}").output == "/testbed\nunset\n"


def test_a_persistent_rollout_keeps_its_directory_and_is_told_so(repo_image, tmp_path):
    image, commit = repo_image(CALC_FILES)
    task = Task(instance_id="calc-1", problem_statement="add() subtracts", image=image, base_commit=commit)
    commands = iter(["cd calc && export WHERE=here", "pwd && echo $WHERE && sed -i 's/a - b/a + b/' ops.py",
                     "echo CODESCALE_SUBMIT"])
    with FakeServer(responder=lambda body: f"Go.\n```bash\n{next(commands)}\n```") as server:
        config = RolloutConfig(model=ModelConfig(id="openai/fake", base_url=server.openai_url),
                               sandbox={"kind": "docker", "shell": "session"},
                               agent=AgentConfig(shell_state="persistent"))
        traj = run_rollout(task, config, run_id=f"test-{uuid.uuid4().hex[:10]}", rollout_id="r0", task_dir=tmp_path)
        system = server.requests[0].json["messages"][0]["content"]
    settle()
    assert traj.exit_status == "submitted" and "+    return a + b" in traj.patch
    assert "<output>\n/testbed/calc\nhere\n</output>" in traj.steps[1].observation
    assert "run one after another in the same shell session" in system and "fresh `bash -c`" not in system


def test_persistent_needs_the_session_shell(repo_image):
    with pytest.raises(ConfigError, match="agent.shell_state: persistent needs the docker sandbox with sandbox.shell: session"):
        load_config(["agent.shell_state=persistent", "sandbox.shell=exec"])
    with pytest.raises(ConfigError, match="persistent needs the docker sandbox"):
        load_config(["agent.shell_state=persistent", "sandbox.kind=local"])
    assert load_config(["agent.shell_state=persistent", "sandbox.shell=session"]).agent.shell_state == "persistent"
    image, _ = repo_image(CALC_FILES)
    with DockerSandbox(DockerSandboxConfig(shell="exec"), image=image, run_id=f"test-{uuid.uuid4().hex[:10]}") as sandbox:
        with pytest.raises(SandboxError, match="a persistent shell state needs sandbox.shell: session"):
            sandbox.execute("true", persistent=True)
