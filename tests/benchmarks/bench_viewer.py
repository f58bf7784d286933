"""The viewer on a large run: what each page costs to answer and to send as the run grows, beside the one-file
HTML report.

    python tests/benchmarks/bench_viewer.py [--tasks 50] [--n 8] [--steps 30] [--output 2000] [--report]

Makes a synthetic pdr+rtv run directory (tasks x 2 generations x n rollouts of `steps` steps, each step's output
`output` characters; a bracket of n with 8 votes per match per selection), then times, through the viewer's own
HTTP server on 127.0.0.1, the run page (finished, then with every task still running), a task page and a rollout
page, each the median of 5 requests, with their sizes; then grows the same run to 4 times as many tasks and times
them again (a task page should not grow with the run); with --report, `codescale report` of each, side by side.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from codescale.agent.files import TaskFiles
from codescale.agent.records import Step, Task, Trajectory, Usage
from codescale.eval.analysis.viewer import make_server
from codescale.eval.runs.rundir import RunDir
from codescale.scaling.records import Match, PhaseUsage, Round, Selection, Summary, TaskResult, Vote


def bracket(ids: list[str], stage: str, stop_at: int) -> Selection:
    rounds, alive = [], list(ids)
    while len(alive) > stop_at:
        matches = []
        for a, b in zip(alive[::2], alive[1::2]):
            votes = [Vote(order=[a, b] if i % 2 else [b, a], response="Candidate 1 is better. " * 40 + "\nANSWER: 1",
                          choice=b if i % 2 else a, usage=Usage(input_tokens=3000, output_tokens=200, requests=1))
                     for i in range(8)]
            matches.append(Match(candidates=[a, b], votes=votes, tally={a: 4, b: 4}, winners=[a], tie_break="first"))
        rounds.append(Round(index=len(rounds), matches=matches))
        alive = [m.winners[0] for m in matches]
    return Selection(stage=stage, seed=1, stop_at=stop_at, candidates=ids, rounds=rounds, winners=alive)


def make_run(root: Path, tasks: range, n: int, steps: int, output: int) -> RunDir:
    """The run directory `root/large` with the tasks numbered `tasks` added."""
    run = RunDir(root / "large")
    run.write_config({"model": {"id": "openai/bench"}, "scaling": {"strategy": "pdr+rtv"}}, "bench")
    observation = ("x" * 99 + "\n") * (output // 100)
    for t in tasks:
        task = Task(instance_id=f"bench__task-{t}", problem_statement="The tool crashes on empty input. " * 20,
                    repo_dir="/nowhere")
        run.write_task(task)
        files = TaskFiles(run.task_dir(task.instance_id))
        generations = [[f"g{g}-r{i}" for i in range(n)] for g in range(2)]
        for g, ids in enumerate(generations):
            for rid in ids:
                traj = Trajectory(task_id=task.instance_id, rollout_id=rid, generation=g, model="openai/bench",
                                  exit_status="submitted", patch="diff --git a/x b/x\n+fix\n" * 20,
                                  prompt=[{"role": "system", "content": "You are careful. " * 50},
                                          {"role": "user", "content": "Solve it. " * 200}],
                                  steps=[Step(index=i, response=f"Step {i}: let me look.\n```bash\nls -la src/\n```",
                                              action="ls -la src/", observation=observation, returncode=0,
                                              usage=Usage(input_tokens=4000 + 500 * i, output_tokens=80, requests=1))
                                         for i in range(steps)])
                traj.usage = sum((s.usage for s in traj.steps), Usage())
                traj.save(files.trajectory(rid))
                files.save(files.summary(rid), Summary(task_id=task.instance_id, rollout_id=rid,
                                                       understanding="It needs a guard. " * 20, lessons="Test first. " * 20))
        context = bracket(generations[0], "context-g0", 2)
        final = bracket(generations[1], "final", 1)
        files.save(files.selection("context-g0"), context)
        files.save(files.selection(), final)
        run.append_result(TaskResult(instance_id=task.instance_id, strategy="pdr+rtv", final_rollout=final.winners[0],
                                     rollouts=generations, selection=final, usage=PhaseUsage(),
                                     exit_statuses={rid: "submitted" for ids in generations for rid in ids}),
                          model_name="openai/bench")
    return run


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def timed(port: int, path: str, times: int = 5) -> tuple[float, int]:
    """Median seconds of `times` GETs of `path`, and the answer's size in bytes."""
    seconds, size = [], 0
    for _ in range(times):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        start = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        seconds.append(time.perf_counter() - start)
        assert response.status == 200, body[:300]
        size = len(body)
        connection.close()
    return statistics.median(seconds), size


def measure(run: RunDir, report: bool) -> None:
    server = make_server(run, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    rows = [("run page, finished", "/api/run"), ("task page", "/api/task?id=bench__task-0"),
            ("rollout page", "/api/rollout?task=bench__task-0&id=g1-r0")]
    for label, path in rows:
        seconds, size = timed(port, path)
        print(f"  {label:<30} {seconds * 1000:8.1f} ms {size / 1e3:9.1f} kB")
    aside = run.path.parent / "results.jsonl"
    run.results_path.rename(aside)  # every task still running: their trajectories are read
    seconds, size = timed(port, "/api/run", times=3)
    print(f"  {'run page, every task running':<30} {seconds * 1000:8.1f} ms {size / 1e3:9.1f} kB")
    aside.rename(run.results_path)
    server.shutdown()
    server.server_close()
    if report:
        from codescale.eval.analysis.report import build

        start = time.perf_counter()
        html = build([run.path])
        print(f"  {'codescale report (one file)':<30} {(time.perf_counter() - start) * 1000:8.1f} ms "
              f"{len(html.encode()) / 1e3:9.1f} kB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--output", type=int, default=2000)
    parser.add_argument("--report", action="store_true", help="Also build `codescale report` of the same run.")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-viewer-"))
    try:
        made = 0
        for tasks in (args.tasks, 4 * args.tasks):
            run = make_run(root, range(made, tasks), args.n, args.steps, args.output)
            made = tasks
            print(f"run of {tasks} tasks x 2 generations x {args.n} rollouts x {args.steps} steps, "
                  f"{folder_mb(run.path):.0f} MB on disk:")
            measure(run, args.report)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
