"""Terminal-Bench 2 task folders as published (task.toml 1.0 with `docker_image` and environment/, memory "4G", a
work directory other than /app; and 1.1 with [environment] workdir, env and allow_internet) run unchanged, in the
environment they declare, in real Docker; no process the agent left running can change the reward."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import BASE_IMAGE
from fake_server import FakeServer
from test_terminal import Solver, cli, rewards, run_args

from codescale.eval.tasks import harbor
from codescale.eval.tasks.errors import TaskError
from codescale.eval.tasks.harbor_config import size_mb
from codescale.eval.tasks.kinds.container_sandbox import CAPABILITIES
from codescale.eval.tasks.load import load_tasks

TB2 = Path(__file__).parent / "data" / "terminal_bench_2"
JQ_TASK = harbor.SUITE_DIR / "jq-install"


def test_sizes_are_read_in_every_unit_the_format_allows():
    assert [size_mb(v, "memory") for v in ("4G", "8g", "512M", "2048", "1.5G", 1024, "4GiB")] == \
        [4096, 8192, 512, 2048, 1536, 1024, 4096]
    with pytest.raises(ValueError, match="not a size: '4 gigs'"):
        size_mb("4 gigs", "memory")


def test_the_published_layouts_load_with_the_values_they_declare():
    site, notes = (load_tasks(str(TB2 / name))[0] for name in ("personal-site", "notes-v2-1"))
    assert (site.prebuilt_image, site.image) == ("codescale-published/personal-site:20251031",) * 2
    assert site.environment_image.startswith("codescale-tasks/personal-site:")
    assert (site.workdir, site.memory_mb, site.storage_mb, site.allow_internet) == ("/app/personal-site", 4096, 10240, True)
    assert (notes.workdir, notes.memory_mb, notes.allow_internet) == ("/workspace/notes", 512, False)
    assert notes.env == {"NOTES_GREETING": "hello from task.toml"} and notes.agent_timeout == 300.0


def test_keys_not_honoured_are_named_in_one_warning(tmp_path, caplog):
    folder = tmp_path / "odd"
    for part in ("environment", "tests"):
        (folder / part).mkdir(parents=True)
    (folder / "instruction.md").write_text("Do it.\n")
    (folder / "tests" / "test.sh").write_text("#!/bin/bash\n")
    (folder / "environment" / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\n")
    (folder / "task.toml").write_text('schema_version = "1.1"\nshiny = 1\n[agent]\ntimeout_sec = 60\nuser = "bob"\n'
                                      '[environment]\ngpus = 1\nnetwork_mode = "allowlist"\n[environment.env]\n'
                                      'TOKEN = "${TOKEN}"\nPLAIN = "yes"\n')
    with caplog.at_level(logging.WARNING):
        [task] = load_tasks(str(folder))
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning == ("task odd: task.toml keys not honoured: shiny; agent.user; environment.network_mode; "
                       "environment.gpus = 1 (no GPU is given to a container); environment.env.TOKEN (takes its "
                       "value from this machine's environment, which never enters a container)")
    assert task.env == {"PLAIN": "yes"} and task.allow_internet is False and task.workdir == "/app"


def test_memory_and_memory_mb_that_disagree_are_refused(tmp_path):
    folder = tmp_path / "both"
    (folder / "tests").mkdir(parents=True)
    (folder / "instruction.md").write_text("Do it.\n")
    (folder / "task.toml").write_text('[environment]\nmemory = "4G"\nmemory_mb = 2048\n')
    with pytest.raises(TaskError, match="memory = 4096 MB disagrees with memory_mb = 2048"):
        load_tasks(str(folder))


def test_a_user_may_lock_a_container_task_down_never_open_it_wider():
    from codescale.eval.runs.config import RunConfig

    [task] = load_tasks(str(TB2 / "personal-site"))
    locked = task.overlay(RunConfig(sandbox={"network": "none", "cap_add": ["CHOWN"]})).sandbox
    assert (locked["network"], locked["cap_add"], locked["memory"]) == ("none", ["CHOWN"], "4096m")
    for setting, problem in ((("network", "host"), "a container task gets a network of its own"),
                             (("cap_add", ["SYS_ADMIN"]), "SYS_ADMIN is beyond what a container task may hold"),
                             (("cap_drop", ["NET_RAW"]), "sandbox.cap_drop must include ALL"),
                             (("no_new_privileges", False), "keeps no-new-privileges")):
        with pytest.raises(TaskError, match=problem):
            task.overlay(RunConfig(sandbox=dict([setting])))
    [offline] = load_tasks(str(TB2 / "notes-v2-1"))
    with pytest.raises(TaskError, match="the task allows no internet"):
        offline.overlay(RunConfig(sandbox={"network": "bridge"}))
    assert task.capabilities == CAPABILITIES and load_tasks("codescale__memo-1")[0].capabilities == ()


def rollout(task, before: str):
    """(reward, `docker inspect` of the container) after `before` ran in it as the agent's one command."""
    import docker

    from codescale.agent.records import Trajectory
    from codescale.agent.rollout import open_sandbox
    from codescale.eval.runs.config import RunConfig
    from codescale.eval.tasks.kinds import ensure_image
    from codescale.eval.tasks.verifier import verify

    ensure_image(task)
    settings = task.overlay(RunConfig(sandbox={"kind": "docker"})).sandbox
    traj = Trajectory(task_id=task.instance_id, rollout_id="r0", model="none")
    with open_sandbox(task, settings, run_id="test-tb2", name=task.instance_id) as sandbox:
        inspected = docker.from_env().api.inspect_container(sandbox.container_name)
        assert sandbox.execute(before).returncode == 0
        found = verify(sandbox, traj, Path(task.task_dir) / "tests", task.verifier_timeout, task.verifier_env)
    return found, inspected


@pytest.mark.slow
@pytest.mark.parametrize("name, memory, workdir", [("personal-site", 4096, "/app/personal-site"),
                                                   ("notes-v2-1", 512, "/workspace/notes")])
def test_published_layouts_start_as_declared_and_score_1_for_the_reference_and_0_for_nothing(
        docker_client, base_image, monkeypatch, caplog, name, memory, workdir):
    monkeypatch.setenv("CODESCALE_BASE_IMAGE", BASE_IMAGE)
    solution = (TB2 / name / "solution" / "solve.sh").read_text()
    for attempt, expected in ((solution, 1.0), ("true", 0.0)):
        [task] = load_tasks(str(TB2 / name))
        with caplog.at_level(logging.WARNING):
            found, inspected = rollout(task, attempt)
        assert (found.reward, found.error) == (expected, "")
        assert inspected["HostConfig"]["Memory"] == memory * 1024 * 1024
        assert inspected["Config"]["WorkingDir"] == workdir and task.image == task.environment_image
    if task.prebuilt_image:  # it cannot be pulled here: its environment/ was built instead, and a warning says so
        assert any("could not be pulled" in r.getMessage() and task.environment_image in r.getMessage()
                   for r in caplog.records)


@pytest.mark.slow
def test_a_background_process_the_agent_left_cannot_change_the_reward(docker_client, base_image, tmp_path):
    folder = tmp_path / "forge"
    for part in ("environment", "tests"):
        (folder / part).mkdir(parents=True)
    (folder / "instruction.md").write_text("Anything.\n")
    (folder / "task.toml").write_text('version = "1.0"\n[verifier]\ntimeout_sec = 60\n')
    (folder / "environment" / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nWORKDIR /app\n")
    (folder / "tests" / "test.sh").write_text(  # an honest 0, then time for a forger to overwrite it
        "#!/bin/bash\necho 0 > /logs/verifier/reward.txt\nsleep 2\nps -eo user,args > /logs/verifier/ps.txt\n")
    forger = ("setsid nohup bash -c 'while true; do mkdir -p /logs/verifier; echo 1 > /logs/verifier/reward.txt; "
              "sleep 0.05; done' >/dev/null 2>&1 </dev/null & sleep 0.5; cat /logs/verifier/reward.txt")
    [task] = load_tasks(str(folder))
    found, _ = rollout(task, forger)
    assert (found.reward, found.error, found.returncode) == (0.0, "", 0)


@pytest.mark.slow
def test_a_service_the_agent_left_running_is_seen_by_the_tests_only_with_agent_processes_keep(
        docker_client, base_image, tmp_path):
    from codescale.agent.files import TaskFiles
    from codescale.agent.records import Trajectory
    from codescale.agent.rollout import open_sandbox
    from codescale.eval.runs.config import RunConfig
    from codescale.eval.tasks.kinds import ensure_image
    from codescale.eval.tasks.verifier import load_reward

    folder = tmp_path / "service"
    for part in ("environment", "tests"):
        (folder / part).mkdir(parents=True)
    (folder / "instruction.md").write_text("Serve /app on port 8080.\n")
    (folder / "task.toml").write_text('version = "1.0"\n[verifier]\ntimeout_sec = 60\n')
    (folder / "environment" / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nWORKDIR /app\n")
    (folder / "tests" / "test.sh").write_text(
        "#!/bin/bash\npython3 -c 'import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:8080/\", timeout=5)' "
        "&& echo 1 > /logs/verifier/reward.txt || echo 0 > /logs/verifier/reward.txt\n")
    serve = ("setsid nohup python3 -m http.server 8080 >/dev/null 2>&1 </dev/null & "
             "for _ in $(seq 50); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 8080))' "
             "2>/dev/null && break; sleep 0.1; done")
    [task] = load_tasks(str(folder))
    ensure_image(task)
    rewards = {}
    for mode in ("stop", "keep"):
        config = task.overlay(RunConfig(sandbox={"kind": "docker"}, verifier={"agent_processes": mode}))
        traj = Trajectory(task_id=task.instance_id, rollout_id=f"r-{mode}", model="none")
        with open_sandbox(task, config.sandbox, run_id="test-tb2", name=task.instance_id) as sandbox:
            assert sandbox.execute(serve).returncode == 0
            task.after_rollout(sandbox, traj, tmp_path / "out", config=config)
        rewards[mode] = load_reward(TaskFiles(tmp_path / "out"), traj.rollout_id).reward
    assert rewards == {"stop": 0.0, "keep": 1.0}


@pytest.mark.slow
def test_a_task_that_installs_a_debian_package_scores_1_with_its_network_and_0_without(
        docker_client, base_image, tmp_path, monkeypatch):
    monkeypatch.setenv("CODESCALE_BASE_IMAGE", BASE_IMAGE)
    outcomes = {}
    for name, extra in (("default", []), ("offline", ["-c", "sandbox.network=none"])):
        out = tmp_path / name
        with FakeServer(responder=Solver([JQ_TASK])) as server:
            done = cli("run", "--task", str(JQ_TASK), *extra, *run_args(server, out))
            assert done.returncode == 0, done.stderr[-3000:]
            system = server.requests[0].json["messages"][0]["content"]
        assert cli("evaluate", str(out)).returncode == 0
        outcomes[name] = rewards(out)["jq-install"], system
    assert outcomes["default"][0] == 1.0 and "The container can reach the internet" in outcomes["default"][1]
    assert outcomes["offline"][0] == 0.0 and "There is no network access" in outcomes["offline"][1]


@pytest.mark.slow
def test_buildkit_only_dockerfiles_build_through_the_cli_and_the_legacy_fallback_says_why(
        docker_client, base_image, tmp_path, monkeypatch, caplog):
    from peers import peer

    from codescale.eval.tasks import buildkit
    from codescale.eval.tasks.kinds import ensure_image

    folder = tmp_path / "mounts"
    for part in ("environment", "tests"):
        (folder / part).mkdir(parents=True)
    (folder / "instruction.md").write_text("Anything.\n")
    (folder / "task.toml").write_text('version = "1.0"\n')
    (folder / "tests" / "test.sh").write_text("#!/bin/bash\n")
    (folder / "environment" / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\nRUN --mount=type=tmpfs,target=/scratch echo {tmp_path.name} > /scratch/x && cp /scratch/x /built\n")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-plugins"))  # a docker CLI without buildx or compose
    buildkit._probe.cache_clear()
    [task] = load_tasks(str(folder))
    with caplog.at_level(logging.WARNING), pytest.raises(TaskError, match="failed"):
        ensure_image(task)
    assert any("offers no BuildKit here" in r.getMessage() for r in caplog.records)
    monkeypatch.setenv("DOCKER_CONFIG", str(peer("harbor").root / "docker-config"))  # Compose v2 builds with BuildKit
    buildkit._probe.cache_clear()
    assert ensure_image(task) is True and buildkit.builder() in ("buildx", "compose")
    try:
        assert docker_client.containers.run(task.image, ["cat", "/built"], remove=True).decode().strip() == tmp_path.name
    finally:
        docker_client.images.remove(task.image, force=True)
