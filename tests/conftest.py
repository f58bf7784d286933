"""Shared fixtures: a real Docker engine, the local base image, small git repositories and images of them."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest

BASE_IMAGE = os.environ.get("CODESCALE_BASE_IMAGE", "codescale/base:bookworm")

os.environ["CODESCALE_MODELS"] = ""  # no user model catalog: the tests see the bundled rows (and set their own)

CALC_FILES = {
    "calc/__init__.py": "",
    "calc/ops.py": "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n",
    "tests/test_ops.py": (
        "from calc.ops import add, mul\n\n\n"
        "def test_add():\n    assert add(2, 3) == 5\n\n\n"
        "def test_mul():\n    assert mul(2, 3) == 6\n"
    ),
}
"""A tiny project with one bug (add subtracts)."""


def pytest_addoption(parser):
    parser.addoption("--sandbox-shell", choices=["session", "exec"],
                     help="the default of sandbox.shell for this test session (sets $CODESCALE_SANDBOX_SHELL, which the "
                          "commands the tests start inherit); tests that name a shell keep it")


def pytest_configure(config):
    if config.getoption("--sandbox-shell"):
        os.environ["CODESCALE_SANDBOX_SHELL"] = config.getoption("--sandbox-shell")


def pytest_report_header(config):
    return f"sandbox.shell by default: {os.environ.get('CODESCALE_SANDBOX_SHELL') or 'session'}"


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "codescale", "GIT_AUTHOR_EMAIL": "tests@codescale.invalid",
        "GIT_COMMITTER_NAME": "codescale", "GIT_COMMITTER_EMAIL": "tests@codescale.invalid",
        "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    }
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(path: Path, files: dict[str, str]) -> tuple[Path, str]:
    """A git repository holding `files` in one commit; returns (path, commit sha)."""
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path, git(path, "rev-parse", "HEAD")


def write_calc_task(folder: Path) -> Path:
    """folder/task.json: a task on CALC_FILES in a local git repository (folder/calc), its bug in the statement."""
    import json

    repo, commit = make_repo(folder / "calc", CALC_FILES)
    path = folder / "task.json"
    path.write_text(json.dumps({"instance_id": "calc-1", "problem_statement": "add() subtracts", "repo_dir": str(repo),
                                "base_commit": commit}))
    return path


@pytest.fixture
def calc_task_file(tmp_path) -> Path:
    """The task file of `write_calc_task`, in the test's folder."""
    return write_calc_task(tmp_path)


@pytest.fixture(scope="session")
def docker_client():
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env()
        client.ping()
    except Exception as e:  # no engine at all on this machine
        reason = (str(e).splitlines() or [""])[0][:160]
        pytest.skip(f"no Docker engine answers ({type(e).__name__}: {reason}); on Debian, bash .ci/docker.sh installs and starts one")
    return client


@pytest.fixture(scope="session")
def base_image(docker_client, pytestconfig) -> str:
    """The base image, made on first need by eval/tasks/base_image.sh (the script CI uses too: pulled and extended
    where a registry answers, else built with debootstrap; once per machine), its progress shown as it goes."""
    try:
        docker_client.images.get(BASE_IMAGE)
        return BASE_IMAGE
    except Exception:
        pass
    script = Path(__file__).resolve().parent.parent / "eval" / "tasks" / "base_image.sh"
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nbase image {BASE_IMAGE} is missing: making it with {script.name} (once per machine)", flush=True)
        done = subprocess.run(["bash", str(script)], env={**os.environ, "CODESCALE_BASE_IMAGE": BASE_IMAGE},
                              stdout=sys.stdout, stderr=subprocess.STDOUT)
    if done.returncode:
        pytest.fail(f"base image {BASE_IMAGE} is missing and {script} could not make it (exit {done.returncode}; "
                    "its output is above)")
    return BASE_IMAGE


def build_repo_image(client, files: dict[str, str], root: Path, base: str = BASE_IMAGE, workdir: str = "/testbed") -> tuple[str, str]:
    """Build an image with a git repo of `files` committed at `workdir`; (tag, commit). The repository's commit
    differs from one session to the next, so a session removes the images it built (see repo_image)."""
    digest = hashlib.sha256(repr((sorted(files.items()), workdir, base)).encode()).hexdigest()[:12]
    _, commit = make_repo(root / "repo", files)
    tag = f"codescale-test/repo:{digest}"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        tar.add(root / "repo", arcname="repo")
        dockerfile = f"FROM {base}\nCOPY repo {workdir}\nWORKDIR {workdir}\n".encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    return tag, commit


@pytest.fixture(scope="session")
def repo_image(docker_client, base_image, tmp_path_factory):
    """`repo_image(files, workdir="/testbed") -> (tag, commit)`: see build_repo_image."""

    built: set[str] = set()

    def build(files: dict[str, str], workdir: str = "/testbed") -> tuple[str, str]:
        tag, commit = build_repo_image(docker_client, files, tmp_path_factory.mktemp("repo"), base_image, workdir)
        built.add(tag)
        return tag, commit

    yield build
    for tag in built:  # else each session leaves the last one's images untagged on the engine
        try:
            docker_client.images.remove(tag, force=True)
        except Exception as e:
            print(f"could not remove test image {tag}: {e}")


pytest_plugins = ["fake_server"]


def engine_events(client, since: float, kind: str, action: str) -> list[dict]:
    """The Docker engine's events of `kind` (container, image) and `action` (create, tag, ...) from `since`
    (seconds since the epoch) until now."""
    return list(client.events(since=since, until=time.time() + 1, decode=True, filters={"type": kind, "event": action}))


class LiveEvents:
    """The engine's events of `kind` (container, image) and `actions` while the block runs, read from its live stream
    (a query afterwards, engine_events, sees only the engine's last 256 events: too few on a busy machine)."""

    def __init__(self, client, kind: str, actions: list[str]):
        self.client, self.filters, self.events = client, {"type": kind, "event": actions}, []

    def __enter__(self) -> LiveEvents:
        import threading

        self.stream = self.client.events(decode=True, filters=self.filters)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _read(self) -> None:
        try:
            for event in self.stream:
                self.events.append(event)
        except Exception:  # the stream closed under the reader
            pass

    def __exit__(self, *exc) -> None:
        time.sleep(1.0)  # the last events on their way
        self.stream.close()
        self.reader.join(5)


@pytest.fixture
def own_base(docker_client, base_image):
    """The base image under a tag of this test's own; the bundled tasks' images built on it are removed after."""
    from codescale.eval.tasks.bundled import SUITE_DIR
    from codescale.eval.tasks.images import suite_image

    tag = f"codescale-test/own-base:{uuid.uuid4().hex[:8]}"
    docker_client.images.get(base_image).tag(tag)
    yield tag
    for image in [suite_image(task, tag) for task in sorted(SUITE_DIR.iterdir()) if task.is_dir()] + [tag]:
        try:
            docker_client.images.remove(image)
        except Exception:  # never made, or already removed by an image cache
            pass
