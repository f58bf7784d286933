"""Benchmark: build every bundled task image from scratch, then again (cached), then grade the gold patches.

    python tests/benchmarks/bench_images_grading.py [--base-image IMG] [--workers N]

"From scratch" uses a fresh alias of the base image, so the content hashes (and tags) are new, and builds
without Docker's layer cache; the alias and the images built for it are removed at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from codescale.eval.tasks import bundled, images  # noqa: E402
from codescale.eval.runs.evaluate import evaluate  # noqa: E402
from codescale.eval.runs.rundir import RunDir  # noqa: E402
from codescale.eval.tasks.load import load_tasks  # noqa: E402
from codescale.scaling.records import TaskResult  # noqa: E402


def build_all(base: str, workers: int, client, no_cache: bool = False) -> float:
    def build(name: str) -> None:
        images.build_suite_image(bundled.SUITE_DIR / name, base, client, no_cache=no_cache)

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(build, bundled.suite_ids()))
    return time.monotonic() - started


def grade_gold(base: str, workers: int) -> tuple[float, int]:
    tasks = load_tasks(base_image=base)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir(Path(tmp))
        for task in tasks:
            run.write_task(task)
            run.append_result(TaskResult(instance_id=task.instance_id, strategy="gold", final_patch=task.patch), "gold")
        started = time.monotonic()
        graded = evaluate(Path(tmp), workers=workers)
        seconds = time.monotonic() - started
    assert all(g.resolved for g in graded), [g.instance_id for g in graded if not g.resolved]
    return seconds, len(graded)


def main() -> None:
    import docker

    parser = argparse.ArgumentParser()
    parser.add_argument("--base-image", default=os.environ.get("CODESCALE_BASE_IMAGE", "codescale/base:bookworm"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    client = docker.from_env()
    alias = f"codescale-bench/base:{uuid.uuid4().hex[:8]}"
    client.images.get(args.base_image).tag(alias)
    try:
        n = len(bundled.suite_ids())
        scratch = build_all(alias, args.workers, client, no_cache=True)
        cached = build_all(alias, args.workers, client)
        print(f"build {n} images from scratch ({args.workers} workers): {scratch:.1f} s ({scratch / n:.2f} s per image)")
        print(f"build {n} images when cached: {cached:.2f} s")
        for workers in sorted({1, args.workers}):
            seconds, count = grade_gold(alias, workers)
            print(f"grade {count} gold patches, {workers} worker(s): {seconds:.1f} s "
                  f"({seconds / count:.2f} s per patch wall, all resolved)")
    finally:
        for name in bundled.suite_ids():
            try:
                client.images.remove(images.suite_image(bundled.SUITE_DIR / name, alias), force=True)
            except docker.errors.ImageNotFound:
                pass
        client.images.remove(alias)


if __name__ == "__main__":
    main()
