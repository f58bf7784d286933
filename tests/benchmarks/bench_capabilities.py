"""Which Linux capabilities the bundled suite needs in the Docker sandbox: each task's gold patch applied and its
eval script run with the capabilities given (none by default), the test summary printed per task.

    CODESCALE_BASE_IMAGE=codescale/base:bookworm python tests/benchmarks/bench_capabilities.py [CAP,CAP,...]

A task whose tests all pass with no capability needs none (measured: all twelve)."""

from __future__ import annotations

import re
import sys
import time

from codescale.agent.rollout import open_sandbox
from codescale.eval.tasks.eval_script import harness_fields
from codescale.eval.tasks.kinds import ensure_images
from codescale.eval.tasks.load import load_tasks

SUMMARY = re.compile(r"(\d+ (passed|failed|error))|^(OK|FAILED)|^Ran ")


def main(caps: list[str]) -> None:
    tasks = load_tasks()
    ensure_images(tasks)
    print(f"cap_add: {caps or 'none'}")
    for task in tasks:
        start = time.monotonic()
        with open_sandbox(task, {"kind": "docker", "cap_add": caps}, run_id="bench-caps", name=task.instance_id) as box:
            box.write_file("../gold.patch", task.patch)
            applied = box.execute("git apply ../gold.patch")
            box.write_file("../eval.sh", harness_fields(task).eval_script)
            out = box.execute("bash ../eval.sh", timeout=600)
        summary = [line for line in out.output.splitlines() if SUMMARY.search(line)]
        tests = [t.split("::")[-1].split(" ")[0] for t in task.FAIL_TO_PASS + task.PASS_TO_PASS]
        missing = [t for t in tests if t not in out.output]
        denied = len(re.findall(r"ermission denied|not permitted", out.output))
        print(f"{task.instance_id}: apply {applied.returncode}, eval {out.returncode}, {' / '.join(summary)}, "
              f"tests not seen {len(missing)}, permission errors {denied}, {time.monotonic() - start:.1f} s",
              flush=True)


if __name__ == "__main__":
    main([c for c in (sys.argv[1] if len(sys.argv) > 1 else "").split(",") if c])
