"""A real multi-node Ray cluster on this machine: a head without Docker and worker nodes that offer the
"docker" resource, each a separate `ray start --block` process in its own process group, on free ports and its
own temp dir. Only the processes started here are ever stopped (by process group), never other clusters.

    with RayCluster(workers=2, slots=2) as cluster:   # or the `ray_cluster` fixture of tests/test_cluster.py
        cluster.address                                # HOST:PORT for `codescale batch --ray`
        cluster.kill_worker(0)                          # SIGKILL a worker node and everything it started
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
FAST_FAILURE = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3",
                "RAY_health_check_initial_delay_ms": "1000", "RAY_USAGE_STATS_ENABLED": "0"}
"""A dead node is noticed in seconds, not the default half minute."""


def _node_ip() -> str:
    """The address Ray picks for this machine's nodes (it does not bind the head to loopback)."""
    from ray._private.services import get_node_ip_address

    return get_node_ip_address()


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class RayCluster:
    def __init__(self, workers: int = 2, slots: int = 2, cpus: int = 1):
        self.workers, self.slots, self.cpus = workers, slots, cpus
        self.temp_dir = Path(tempfile.mkdtemp(prefix="rayt-"))  # short: Ray's socket paths have a length limit
        self.procs: list[subprocess.Popen] = []
        self.port = free_ports(1)[0]
        self.address = f"{_node_ip()}:{self.port}"

    def _start(self, *args: str) -> subprocess.Popen:
        node_manager, object_manager, metrics, agent_listen, agent_grpc, runtime_env = free_ports(6)
        low = free_ports(1)[0]
        argv = [RAY, "start", "--block", "--disable-usage-stats", f"--num-cpus={self.cpus}", "--object-store-memory=100000000",
                f"--node-manager-port={node_manager}", f"--object-manager-port={object_manager}",
                f"--metrics-export-port={metrics}", f"--dashboard-agent-listen-port={agent_listen}",
                f"--dashboard-agent-grpc-port={agent_grpc}", f"--runtime-env-agent-port={runtime_env}",
                f"--min-worker-port={low}", f"--max-worker-port={low + 40}", *args]
        log = open(self.temp_dir / f"node{len(self.procs)}.log", "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **FAST_FAILURE})
        self.procs.append(proc)
        return proc

    def start(self) -> RayCluster:
        self._start("--head", f"--port={self.port}", f"--temp-dir={self.temp_dir}", "--include-dashboard=false")
        self.wait_nodes(1)
        for index in range(self.workers):
            self.procs.append(self._worker(index, 2 + index))  # one at a time: two starting at once can time out
        return self

    def _worker(self, index: int, nodes: int, tries: int = 3) -> subprocess.Popen:
        """Start worker node `index` until the cluster has `nodes` nodes; a start that fails (on a loaded
        machine a node can time out while starting) is tried again."""
        for attempt in range(1, tries + 1):
            proc = self._start(f"--address={self.address}",
                               f"--resources={json.dumps({'docker': self.slots, f'worker{index}': 1})}")
            self.procs.remove(proc)
            try:
                self.wait_nodes(nodes, watch=proc)
                return proc
            except RuntimeError:
                _kill(proc)
                if attempt == tries:
                    raise

    def alive_nodes(self) -> list[dict]:
        out = subprocess.run([sys.executable, "-c", _NODES, self.address], capture_output=True, text=True, timeout=60)
        return json.loads(out.stdout) if out.returncode == 0 else []

    def wait_nodes(self, count: int, timeout: float = 180.0, watch: subprocess.Popen | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs[:1] + ([watch] if watch else [])):
                raise RuntimeError(f"a Ray node exited while starting (logs in {self.temp_dir})")
            if len(self.alive_nodes()) >= count:
                return
            time.sleep(1.0)
        raise RuntimeError(f"the Ray cluster did not reach {count} nodes in {timeout:.0f} s (logs in {self.temp_dir})")

    def running(self, index: int, function: str) -> int:
        """How many Ray workers of worker node `index` are executing `function` now (by their process title)."""
        rows = [line.split(None, 3) for line in subprocess.run(
            ["ps", "-eo", "pid=,ppid=,pgid=,args="], capture_output=True, text=True).stdout.splitlines()]
        node = {pid for pid, _, pgid, *_ in rows if pgid == str(self.procs[1 + index].pid)}  # its raylet among them
        return sum((ppid in node or pid in node) and f"ray::{function}" in args[0] for pid, ppid, _, *args in rows
                   if args)

    def kill_worker(self, index: int) -> None:
        """SIGKILL worker node `index` and every process it started (its raylet, its workers)."""
        _kill(self.procs[1 + index])

    def revive_worker(self, index: int) -> None:
        """Start worker node `index` again (as a new node with the same resources) if it is not running."""
        if self.procs[1 + index].poll() is None:
            return
        self.procs[1 + index] = self._worker(index, len(self.alive_nodes()) + 1)

    def stop(self) -> None:
        """SIGKILL every process group this cluster started (workers first); nothing else is touched."""
        for proc in reversed(self.procs):
            _kill(proc)
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> RayCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL a node's `ray start`, its process group (raylet, object store) and every descendant (Ray's
    workers run in process groups of their own), as if its machine had died."""
    rows = [line.split() for line in subprocess.run(["ps", "-eo", "pid=,ppid=,pgid="], capture_output=True,
                                                     text=True).stdout.splitlines()]
    doomed = {int(pid) for pid, _, pgid in rows if int(pgid) == proc.pid} | {proc.pid}
    grew = True
    while grew:
        more = {int(pid) for pid, ppid, _ in rows if int(ppid) in doomed} - doomed
        doomed |= more
        grew = bool(more)
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


_NODES = """
import json, sys, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
print(json.dumps([{"id": n["NodeID"], "resources": n["Resources"]} for n in ray.nodes() if n["Alive"]]))
"""
