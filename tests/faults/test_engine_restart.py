"""The Docker engine restarted under a running batch. Not the machine's engine: a second dockerd of the test's
own, on its own socket, data root and containerd, with no bridge (`--bridge=none`: the sandboxes run with no
network, so no address is assigned or reached) and no iptables rules, in a network namespace of its own, where
the machine's interfaces (its engine's `docker0` among them) are out of its reach. Needs root, dockerd and
unshare; skipped else."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from fake_server import FakeServer
from test_batch import SUITE, batch_args, results
from test_run_faults import sleep_then_submit, trajectories, wait_for

from codescale.eval.runs.rundir import RunDir


class Engine:
    """A private dockerd under `root`: start, stop (SIGTERM, as a service manager restarting it would), start."""

    def __init__(self, root: Path):
        self.root = root
        self.socket = f"unix://{root}/docker.sock"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        args = ["unshare", "--net", "dockerd", "--host", self.socket, "--data-root", str(self.root / "data"),
                "--exec-root", str(self.root / "exec"), "--pidfile", str(self.root / "docker.pid"), "--bridge=none",
                "--iptables=false", "--ip6tables=false", "--ip-masq=false"]
        log = (self.root / "dockerd.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
        env = {**os.environ, "DOCKER_HOST": self.socket}
        wait_for(lambda: subprocess.run(["docker", "info"], env=env, capture_output=True).returncode == 0, 60,
                 "the private dockerd")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)

    def containers(self, *filters: str) -> list[str]:
        env = {**os.environ, "DOCKER_HOST": self.socket}
        out = subprocess.run(["docker", "ps", "-aq", *(f"--filter={f}" for f in filters)], env=env,
                             capture_output=True, text=True, check=True).stdout
        return out.split()


@pytest.fixture(scope="module")
def engine(tmp_path_factory, docker_client, base_image):
    if os.geteuid() != 0 or shutil.which("dockerd") is None or shutil.which("unshare") is None:
        pytest.skip("a private Docker engine needs root, dockerd and unshare")
    root = Path("/tmp") / f"codescale-engine-{os.getpid()}"  # short: the socket path must fit in 108 bytes
    root.mkdir(exist_ok=True)
    private = Engine(root)
    try:
        private.start()
        env = {**os.environ, "DOCKER_HOST": private.socket}
        save = subprocess.Popen(["docker", "save", base_image], stdout=subprocess.PIPE)
        subprocess.run(["docker", "load", "-q"], stdin=save.stdout, env=env, check=True, capture_output=True)
        save.wait()
        yield private
    finally:
        private.stop()
        subprocess.run(["umount", "-R", str(root / "exec")], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_an_engine_restarted_mid_batch_fails_only_the_rollout_it_hit_and_a_rerun_completes(engine, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", engine.socket)
    out, ids = tmp_path / "run", SUITE[:3]
    args = ("--dataset", "codescale", "--ids", ",".join(ids), "--workers", "1")
    with FakeServer(responder=sleep_then_submit) as server:
        proc = subprocess.Popen(batch_args(out, server, *args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        wait_for(lambda: (out / "results.jsonl").exists() and engine.containers("label=codescale.run_id"), 300,
                 "the second task's rollout")
        started = time.monotonic()
        engine.stop()
        engine.start()
        restart = time.monotonic() - started
        _, stderr = proc.communicate(timeout=600)
        first = {r["instance_id"]: r for r in results(out)}
        again = subprocess.run(batch_args(out, server, *args, "--retry-errors"), capture_output=True, text=True,
                               timeout=600)
    assert again.returncode == 0, again.stderr
    assert sorted(RunDir(out).results()) == sorted(ids)
    assert {r.status for r in RunDir(out).results().values()} == {"done"}
    assert {t.exit_status for t in trajectories(out).values()} == {"submitted"}
    assert engine.containers() == []
    hit = [r for r in first.values() if r["status"] == "error" or "submitted" not in r["exit_statuses"].values()]
    print(f"engine restart took {restart:.1f} s; first session exit {proc.returncode}; hit: "
          f"{[(r['instance_id'], r['status'], r['exit_statuses'], r.get('error', '')[:200]) for r in hit]}")
