"""`codescale view`: the JSON API over a scripted pdr+rtv run (finished, still running, with trajectories from before
prompts were kept), what the server refuses to serve, and the static copy. The page in Chromium: test_view_page.py."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codescale.agent.files import BASE_EVIDENCE
from codescale.agent.records import Trajectory
from codescale.eval.analysis.run_pages import context_sources
from codescale.eval.analysis.viewer import answer, data_file, make_server, write_static
from codescale.eval.cli.main import app
from codescale.eval.runs.rundir import RunDir
from codescale.eval.tasks.verifier import Reward
from codescale.scaling.execution import Evidence
from codescale.scaling.records import Selection, Summary, TaskResult
from saved_runs import pdr_run


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    """The run and the messages of every agent request the fake server answered."""
    return pdr_run(tmp_path_factory.mktemp("view"))


@pytest.fixture(scope="module")
def served(scripted):
    run, _ = scripted
    server = make_server(run, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def get(port: int, path: str, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers={"Host": host or f"127.0.0.1:{port}"})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), body


def test_the_run_page_lists_every_task_with_its_answer_grade_and_cost(scripted):
    run, _ = scripted
    page = answer(run, "run", [])
    results, grades = run.results(), run.grades()
    assert [t["id"] for t in page["tasks"]] == ["calc-0", "calc-1"]
    for row in page["tasks"]:
        result = results[row["id"]]
        assert (row["status"], row["final"], row["resolved"]) == ("done", result.final_rollout, grades[row["id"]].resolved)
        assert (row["tokens"], row["requests"], row["cost_usd"]) == (result.usage.total.tokens, result.usage.total.requests, None)
        assert row["rollouts"] == 8 and row["running"] == 0
    assert (page["model"], page["strategy"], page["graded"]) == ("openai/fake", "pdr+rtv", True)


def test_the_task_page_holds_every_bracket_as_the_selection_files_record_it(scripted):
    run, _ = scripted
    page = answer(run, "task", ["calc-0"])
    saved = [Selection.model_validate_json(p.read_text()) for p in run.files("calc-0").selections()]
    assert [s["stage"] for s in page["selections"]] == ["context-g0", "final"] == [s.stage for s in saved]
    for shown, selection in zip(page["selections"], saved):
        assert shown["winners"] == selection.winners and shown["dropped"] == selection.dropped
        for shown_round, round_ in zip(shown["rounds"], selection.rounds, strict=True):
            for m, match in zip(shown_round["matches"], round_.matches, strict=True):
                assert (m["candidates"], m["winners"], m["bye"], m["tally"]) == (match.candidates, match.winners, match.bye, match.tally)
                # the votes counted per order shown: both orders of a pair, one vote each (votes: 2)
                assert [tuple(o["order"]) for o in m["orderings"]] == list(dict.fromkeys(tuple(v.order) for v in match.votes))
                for o in m["orderings"]:
                    votes = [v for v in match.votes if v.order == o["order"]]
                    assert o["votes"] == len(votes) and o["choices"] == {c: sum(v.choice == c for v in votes) for c in match.candidates}
                assert len(m["orderings"]) == (0 if match.bye or match.identical else 2)
                assert m["identical"] == match.identical
    assert page["selections"][0]["dropped"] == {"g0-r2": "empty patch"}


def test_each_refined_rollout_shows_the_summaries_it_was_given(scripted):
    run, _ = scripted
    for task in ("calc-0", "calc-1"):
        page = answer(run, "task", [task])
        context = Selection.model_validate_json(run.files(task).selection("context-g0").read_text())
        refined = [r for r in page["rollouts"] if r["generation"] == 1]
        assert [r["id"] for r in refined] == [f"g1-r{i}" for i in range(4)]
        for r in refined:
            assert r["context_from"] == context.winners
            given = run.trajectory(task, r["id"]).refinement_context  # what the rollout actually got
            for source in r["context_from"]:
                assert run.summary(task, source).markdown() in given
        assert all(r["context_from"] == [] for r in page["rollouts"] if r["generation"] == 0)


def test_a_rollout_page_gives_every_step_the_messages_the_model_was_sent(scripted):
    run, sent = scripted
    checked = 0
    for task in ("calc-0", "calc-1"):
        for path in run.files(task).trajectories():
            traj = Trajectory.load(path)
            page = answer(run, "rollout", [task, traj.rollout_id])
            assert page["opening"]["source"] == "stored"
            ours = [m for m in sent if m[1] == page["opening"]["messages"][1]]  # the instance prompt names its clone
            assert ours == [traj.messages(k) for k in range(len(traj.steps))]
            # the page's rule (viewer.js sentFor): the opening, then each earlier step's reply and what was sent back
            by_page = [page["opening"]["messages"] + [{"role": role, "content": s[key]} for s in page["steps"][:k]
                                                      for role, key in (("assistant", "response"), ("user", "observation"))]
                       for k in range(len(page["steps"]))]
            assert by_page == ours
            checked += len(ours)
    assert checked == len(sent)  # every agent request belongs to exactly one step


def test_with_each_rollouts_own_predecessor_as_context_the_sources_follow_the_index():
    generations = [["g0-r0", "g0-r1"], ["g1-r0", "g1-r1"], ["g2-r0", "g2-r1"]]
    assert context_sources(generations, []) == {"g1-r0": ["g0-r0"], "g1-r1": ["g0-r1"], "g2-r0": ["g1-r0"],
                                                "g2-r1": ["g1-r1"]}
    shared = Selection(stage="context-g1", winners=["g1-r1"])
    assert context_sources(generations, [shared])["g2-r0"] == ["g1-r1"]


def test_a_trajectory_from_before_prompts_were_kept_gets_them_rebuilt_from_the_run(scripted, tmp_path):
    run, _ = scripted
    copy = RunDir(tmp_path / "old")
    shutil.copytree(run.path, copy.path)
    path = copy.files("calc-0").trajectory("g1-r1")
    stored = Trajectory.load(path)
    record = json.loads(path.read_text())
    del record["prompt"]
    path.write_text(json.dumps(record))
    page = answer(copy, "rollout", ["calc-0", "g1-r1"])
    opening = page["opening"]
    assert opening["source"] == "rebuilt" and "local sandbox's working directory was not recorded" in opening["note"]
    task = copy.task("calc-0")
    assert opening["messages"][0] == stored.prompt[0]
    clone = re.search(r"repository at (/\S+?)[.:]\s", stored.prompt[1]["content"])[1]
    unkeyed = lambda text: re.sub(r"-[0-9a-f]{12}\b", "-KEY", text)  # noqa: E731 (the delimiters' key is drawn anew)
    assert unkeyed(opening["messages"][1]["content"]) == unkeyed(stored.prompt[1]["content"].replace(clone, task.workdir))
    assert re.search(r'<attempt-[0-9a-f]{12} number="2">', opening["messages"][1]["content"])  # the context as given


def test_a_run_in_progress_shows_with_running_tasks_and_rollouts(scripted, tmp_path):
    run, _ = scripted
    live = RunDir(tmp_path / "live")
    shutil.copytree(run.path, live.path)
    first, second = live.results_path.read_text().splitlines()
    live.results_path.write_text(first + "\n" + second[: len(second) // 2])  # calc-1's line torn by a kill
    (live.files("calc-1").selection()).unlink()
    for rid in ("g1-r2", "g1-r3"):
        path = live.files("calc-1").trajectory(rid)
        traj = Trajectory.load(path)
        traj.exit_status, traj.steps = None, traj.steps[:1]
        traj.save(path)
    page = answer(live, "run", [])
    row = {t["id"]: t for t in page["tasks"]}["calc-1"]
    assert (row["status"], row["rollouts"], row["running"], row["final"]) == ("running", 8, 2, None)
    task = answer(live, "task", ["calc-1"])
    assert task["status"] == "running" and task["generations"][1] == ["g1-r0", "g1-r1", "g1-r2", "g1-r3"]
    assert [r["status"] for r in task["rollouts"] if r["id"] in ("g1-r2", "g1-r3")] == ["running", "running"]
    assert [s["stage"] for s in task["selections"]] == ["context-g0"]
    assert answer(live, "rollout", ["calc-1", "g1-r3"])["status"] == "running"

    live.results_path.unlink()  # the first task still running: no result line yet at all
    assert [t["status"] for t in answer(RunDir(live.path), "run", [])["tasks"]] == ["running", "running"]


def test_one_tasks_result_is_its_last_complete_line_read_without_the_others(scripted, tmp_path):
    run, _ = scripted
    copy = RunDir(tmp_path / "lines")
    shutil.copytree(run.path, copy.path)
    first, second = copy.results_path.read_text().splitlines()
    again = json.loads(first) | {"final_rollout": "g1-r3"}  # calc-0 run again
    torn = json.dumps(json.loads(second) | {"instance_id": "calc-1", "final_rollout": "g0-r0"})[:-40]
    copy.results_path.write_text("\n".join([first, second, json.dumps(again), torn]))
    assert copy.result("calc-0").final_rollout == "g1-r3" == RunDir(copy.path).results()["calc-0"].final_rollout
    assert copy.result("calc-1").final_rollout == json.loads(second)["final_rollout"]  # the torn line is skipped
    assert copy.result("calc-9") is None and copy.grade("calc-0").resolved is run.grades()["calc-0"].resolved
    assert not copy.has_task("..") and not copy.has_task("calc-0/../..") and copy.has_task("calc-0")


def test_the_server_reads_the_run_anew_for_every_request(scripted, tmp_path):
    run, _ = scripted
    live = tmp_path / "live"
    shutil.copytree(run.path, live)
    lines = (live / "results.jsonl").read_text().splitlines(keepends=True)
    (live / "results.jsonl").write_text(lines[0])
    server = make_server(RunDir(live), 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        statuses = lambda: [t["status"] for t in json.loads(get(server.server_address[1], "/api/run")[2])["tasks"]]  # noqa: E731
        assert statuses() == ["done", "running"]
        (live / "results.jsonl").write_text("".join(lines))  # calc-1 finishes
        assert statuses() == ["done", "done"]
    finally:
        server.shutdown()
        server.server_close()


def test_the_server_answers_the_api_and_the_page_and_nothing_else(scripted, served):
    run, _ = scripted
    status, headers, body = get(served, "/api/task?id=calc-0")
    assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(body) == json.loads(json.dumps(answer(run, "task", ["calc-0"])))
    assert "script-src 'self'" in headers["Content-Security-Policy"] and headers["X-Content-Type-Options"] == "nosniff"
    assert {get(served, path)[0] for path in ("/", "/dom.js", "/bracket.js", "/viewer.js", "/viewer.css")} == {200}
    for path in ("/api/task?id=../../..", "/api/task?id=nope", "/api/rollout?task=calc-0&id=../task",
                 "/api/rollout?task=calc-0&id=g0-r0.summary", "/api/rollout?task=..&id=run", "/run.yaml",
                 "/tasks/calc-0/task.json", "/../run.yaml", "/api/nothing"):
        status, _, body = get(served, path)
        assert status == 404, (path, body)
    status, _, body = get(served, "/api/run", host="attacker.example:80")
    assert status == 403 and b"calc" not in body  # a page elsewhere reaching it by DNS rebinding gets nothing


def read_static(out: Path, kind: str, ids: list[str]) -> dict:
    text = (out / data_file(kind, ids)).read_text()
    key, data = text.removeprefix("codescaleData(").removesuffix(");\n").split(", ", 1)
    assert json.loads(json.loads(key)) == [kind, *ids]
    return json.loads(data)


def test_the_static_copy_holds_every_answer_the_page_can_ask_for(scripted, tmp_path):
    run, _ = scripted
    written = write_static(run, tmp_path / "static")
    assert written == 5 + 1 + 2 * (1 + 8)
    assert 'data-static="1"' in (tmp_path / "static" / "index.html").read_text()
    for kind, ids in (("run", []), ("task", ["calc-1"]), ("rollout", ["calc-0", "g1-r1"])):
        assert read_static(tmp_path / "static", kind, ids) == json.loads(json.dumps(answer(run, kind, ids)))


def test_view_and_export_refuse_bad_input_in_one_line(scripted, tmp_path):
    run, _ = scripted
    before = sorted(p.relative_to(run.path) for p in run.path.rglob("*"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    cases = [
        (["view", str(tmp_path / "other")], "not a run directory (no run.yaml or results.jsonl)"),
        (["view", str(run.path), "--static", str(tmp_path / "other")], "is not an earlier static copy"),
        (["view", str(run.path), "--static", str(run.path / "viewer")], "inside the run directory"),
        (["export", str(run.path), "--format", "atif", "--out", str(run.path / "atif")], "inside the run directory"),
        (["export", str(run.path), "--format", "swe", "--out", str(tmp_path / "x")], "unknown --format 'swe'"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (args, result.output)
    assert sorted(p.relative_to(run.path) for p in run.path.rglob("*")) == before
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine" and not (tmp_path / "x").exists()


def test_execution_evidence_and_a_container_tasks_reward_are_shown_check_by_check(scripted, tmp_path):
    run, _ = scripted
    copy = RunDir(tmp_path / "evidence")
    shutil.copytree(run.path, copy.path)
    files = copy.files("calc-0")
    files.save(files.evidence("g0-r1"), Evidence(rollout_id="g0-r1", digest="d", timed_out=["repro:t.py"], results={
        "existing": {"tests/test_ops.py::test_add": False, "tests/test_ops.py::test_mul": True},
        "repro:t.py": {"t.py": False}}))
    files.save(files.evidence(BASE_EVIDENCE), Evidence(rollout_id=BASE_EVIDENCE, digest="b", applied=True,
                                                        results={"existing": {"tests/test_ops.py::test_mul": True}}))
    files.save(files.evidence("g0-r3"), Evidence(rollout_id="g0-r3", digest="c", applied=False))
    files.save(files.reward("g0-r1"), Reward(rollout_id="g0-r1", reward=0.0, returncode=1, output="1 failed"))
    page = answer(copy, "task", ["calc-0"])
    rollouts = {r["id"]: r for r in page["rollouts"]}
    assert rollouts["g0-r1"]["evidence"] == {"applied": True, "error": "", "timed_out": ["repro:t.py"], "checks": [
        {"key": "existing", "passed": 1, "total": 2, "failed": ["tests/test_ops.py::test_add"]},
        {"key": "repro:t.py", "passed": 0, "total": 1, "failed": ["t.py"]}]}
    assert rollouts["g0-r3"]["evidence"]["applied"] is False and rollouts["g0-r0"]["evidence"] is None
    assert page["base_evidence"]["checks"] == [{"key": "existing", "passed": 1, "total": 1, "failed": []}]
    reward = answer(copy, "rollout", ["calc-0", "g0-r1"])["reward"]
    assert (reward["reward"], reward["returncode"], reward["output"]) == (0.0, 1, "1 failed")


def test_records_other_than_trajectories_are_read_through_the_run_directory(scripted):
    """The summaries and results the pages show are the records' own (not copies that could drift)."""
    run, _ = scripted
    page = answer(run, "task", ["calc-1"])
    result = TaskResult.model_validate_json(run.results_path.read_text().splitlines()[1])
    assert page["final"] == result.final_rollout and page["generations"] == result.rollouts
    for r in page["rollouts"]:
        path = run.files("calc-1").summary(r["id"])
        assert r["summary"] == (Summary.model_validate_json(path.read_text()).markdown() if path.is_file() else None)


def test_the_view_command_serves_until_interrupted_and_writes_a_static_copy(scripted, tmp_path):
    run, _ = scripted
    process = subprocess.Popen([sys.executable, "-m", "codescale.eval.cli", "view", str(run.path), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/"), process.stderr.read()
        status, _, body = get(int(url.rsplit(":", 1)[1].strip("/")), "/api/run")
        assert status == 200 and [t["id"] for t in json.loads(body)["tasks"]] == ["calc-0", "calc-1"]
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0 and err.strip().endswith("stopped"), err
    for _ in range(2):  # the second time over the first copy
        result = CliRunner().invoke(app, ["view", str(run.path), "--static", str(tmp_path / "copy")])
        assert result.exit_code == 0 and result.output.startswith("wrote 24 files; open file://"), result.output
    assert read_static(tmp_path / "copy", "task", ["calc-0"])["final"] == run.results()["calc-0"].final_rollout
