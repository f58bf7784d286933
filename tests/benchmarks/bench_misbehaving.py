"""Misbehaving agent commands in the default Docker sandbox: what each did, what it cost, what it left.

    CODESCALE_BASE_IMAGE=codescale/base:bookworm python tests/benchmarks/bench_misbehaving.py

One row per command: its returncode and timeout flag, seconds until `execute` returned, seconds the next
command (`echo ok`) took, processes left in the container after it, and containers left after the sandbox
closed. Then the default sandbox's HostConfig as `docker inspect` shows it on the running container."""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker  # noqa: E402
from conftest import BASE_IMAGE, CALC_FILES, build_repo_image  # noqa: E402

from codescale.sandboxes.docker import RUN_LABEL, DockerSandbox, DockerSandboxConfig  # noqa: E402

COMMANDS = [
    ("fork bomb, in the background", "bomb() { bomb | bomb & }; bomb", 30),
    ("fork bomb, in the foreground", "bomb() { bomb | bomb; }; bomb", 10),
    ("endless loop", "while :; do :; done", 10),
    ("endless output (yes)", "yes", 10),
    ("10 MB in one line", "head -c 10000000 /dev/zero | tr '\\0' a", 30),
    ("a 5 GB file", "head -c 5G /dev/zero > big.bin; rm -f big.bin", 120),
    ("ignores SIGTERM", "trap '' TERM; while :; do sleep 0.1; done", 10),
    ("closes stdout early", "exec >&- 2>&-; sleep 1", 10),
    ("binary output", "head -c 100000 /dev/urandom", 10),
    ("background process left running", "sleep 1000 & echo started", 10),
]


def main() -> None:
    client = docker.from_env()
    image, _ = build_repo_image(client, CALC_FILES, Path(tempfile.mkdtemp()), BASE_IMAGE)
    print("| command | returncode | timed out | seconds | next command | processes after | containers left |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, command, timeout in COMMANDS:
        run_id = f"bench-{uuid.uuid4().hex[:8]}"
        with DockerSandbox(DockerSandboxConfig(), image=image, run_id=run_id, name="bench") as sandbox:
            start = time.monotonic()
            out = sandbox.execute(command, timeout=timeout)
            seconds = time.monotonic() - start
            start = time.monotonic()
            ok = sandbox.execute("echo ok")
            verdict = "ok" if ok.output == "ok\n" else "FAILED"
            following = f"{verdict} {time.monotonic() - start:.2f} s"
            processes = sandbox.execute("ls -d /proc/[0-9]* | wc -l").output.strip()
            sandbox.diff()
        left = len(client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}))
        print(f"| {name} | {out.returncode} | {out.timed_out} | {seconds:.1f} | {following} | {processes} | {left} |",
              flush=True)
    with DockerSandbox(DockerSandboxConfig(), image=image, run_id=f"bench-{uuid.uuid4().hex[:8]}") as sandbox:
        host = client.api.inspect_container(sandbox.container_name)["HostConfig"]
    keys = ["CapAdd", "CapDrop", "SecurityOpt", "NetworkMode", "PidsLimit", "Memory", "MemorySwap", "NanoCpus",
            "Ulimits", "Init", "Privileged", "ReadonlyRootfs"]
    print(json.dumps({key: host.get(key) for key in keys}, indent=1))


if __name__ == "__main__":
    main()
