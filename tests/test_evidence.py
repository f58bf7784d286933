"""Execution evidence: candidates run against existing tests and the rollouts' reproductions in fresh sandboxes;
the filter, behaviour groups, the judge's view, and nothing hidden in reach."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest

from codescale.agent.records import Task
from codescale.scaling.behaviour import groups, use_evidence, verdict
from codescale.scaling.execution import SelectionConfig, is_test_path, outcomes, split
from codescale.scaling.execution_run import Gatherer
from conftest import CALC_FILES, engine_events, git, make_repo


def patch_of(repo, edits: dict[str, str]) -> str:
    """The git patch that turns `repo`'s HEAD into HEAD with `edits` (path -> new text), made in a scratch clone."""
    scratch = repo.parent / f"scratch-{abs(hash(tuple(sorted(edits.items()))))}"
    subprocess.run(["git", "clone", "-q", str(repo), str(scratch)], check=True)
    for path, text in edits.items():
        (scratch / path).parent.mkdir(parents=True, exist_ok=True)
        (scratch / path).write_text(text)
    git(scratch, "add", "-A")
    return subprocess.run(["git", "diff", "--cached", "--no-color", "HEAD"], cwd=scratch, check=True,
                          capture_output=True, text=True).stdout


OPS = CALC_FILES["calc/ops.py"]
FIXED = OPS.replace("a - b", "a + b")
REPRO_TEST = "from calc.ops import add\n\n\ndef test_add_adds():\n    assert add(1, 1) == 2\n"
REPRO_SCRIPT = "from calc.ops import add\nassert add(2, 2) == 4, add(2, 2)\n"


@pytest.fixture(scope="module")
def calc(tmp_path_factory):
    """The calc repo and four candidates: two fixes (one writes a test, one a script), one that also breaks
    mul, one that only adds a comment."""
    root = tmp_path_factory.mktemp("evidence")
    repo, commit = make_repo(root / "calc", CALC_FILES)
    patches = {
        "fix": patch_of(repo, {"calc/ops.py": FIXED, "tests/test_repro.py": REPRO_TEST}),
        "fix2": patch_of(repo, {"calc/ops.py": FIXED.replace("return a + b", "return b + a"), "reproduce.py": REPRO_SCRIPT}),
        "break": patch_of(repo, {"calc/ops.py": FIXED.replace("a * b", "a ** b")}),
        "comment": patch_of(repo, {"calc/ops.py": "# add() is checked\n" + OPS}),
    }
    task = Task(instance_id="calc-1", problem_statement="add() subtracts", repo_dir=str(repo), base_commit=commit)
    return task, patches


def test_a_patch_is_cut_into_code_and_tests(calc):
    _, patches = calc
    code, tests = split(patches["fix"])
    assert "calc/ops.py" in code and "tests/test_repro.py" not in code
    assert "tests/test_repro.py" in tests and "calc/ops.py" not in tests
    assert [is_test_path(p) for p in ("reproduce.py", "tests/x.py", "pkg/test_a.py", "pkg/a_test.py", "pkg/mod.py")] == \
        [True, True, True, True, False]


def test_outcomes_read_pytest_and_unittest_lines():
    text = ("PASSED tests/t.py::test_a\nFAILED tests/t.py::test_b - AssertionError\nERROR tests/u.py::test_c\n"
            "test_d (tests.test_x.T.test_d) ... ok\ntest_e (tests.test_x.T.test_e) ... FAIL\n")
    assert outcomes(text) == {"tests/t.py::test_a": True, "tests/t.py::test_b": False, "tests/u.py::test_c": False,
                              "tests.test_x.T.test_d": True, "tests.test_x.T.test_e": False}


@pytest.fixture(scope="module")
def gathered(calc, tmp_path_factory):
    """The four candidates' evidence on the local sandbox, and the task directory holding it."""
    task, patches = calc
    folder = tmp_path_factory.mktemp("calc-task")
    return Gatherer(SelectionConfig(sandbox={"kind": "local"}), task, folder).gather(patches, patches), folder


def test_evidence_verdicts_filter_and_groups_on_the_local_sandbox(calc, gathered):
    _, patches = calc
    gathered, _ = gathered
    config = SelectionConfig(evidence="both", sandbox={"kind": "local"})
    verdicts = {rid: verdict(gathered, rid, {rid}) for rid in patches}
    assert [c.kind for c in gathered.checks] == ["existing", "reproduction", "reproduction"]
    assert gathered.base.results[gathered.checks[0].key] == {"tests/test_ops.py::test_add": False,
                                                            "tests/test_ops.py::test_mul": True}
    assert {rid: (v.existing, v.broken, v.reproductions, len(v.reproduced), v.own, v.own_passed)
            for rid, v in verdicts.items()} == {
        "fix": (1, [], 1, 1, 1, 1),
        "fix2": (1, [], 1, 1, 1, 1),
        "break": (1, ["tests/test_ops.py::test_mul"], 2, 2, 0, 0),
        "comment": (1, [], 2, 0, 0, 0),
    }
    assert groups(verdicts, list(patches)) == {"fix": ["fix", "fix2"], "break": ["break"], "comment": ["comment"]}

    applied = use_evidence(config, gathered, list(patches), {})
    assert applied.candidates == ["fix"]
    assert applied.dropped == {
        "fix2": "same behaviour as fix",
        "break": "evidence: breaks 1 previously passing test(s): tests/test_ops.py::test_mul",
        "comment": "evidence: fails all 2 reproduction(s) other rollouts wrote",
    }
    assert applied.weights == {"fix": 2}
    assert "1 of 1 previously passing tests still pass" in applied.texts["fix"]
    assert "1 other attempt(s) behaved exactly the same" in applied.texts["fix"]

    judge_only = use_evidence(SelectionConfig(evidence="judge"), gathered, list(patches), {})
    assert judge_only.candidates == ["fix", "break", "comment"] and judge_only.weights == {"fix": 2, "break": 1, "comment": 1}
    assert "broken: tests/test_ops.py::test_mul" in judge_only.texts["break"]
    assert "passes 0 of 2" in judge_only.texts["comment"]


def test_evidence_is_cached_by_content(calc, gathered):
    task, patches = calc
    first, folder = gathered
    config = SelectionConfig(evidence="filter", sandbox={"kind": "local"})
    assert first.seconds > 0
    files = sorted(p.name for p in folder.glob("*evidence*.json"))
    assert files == ["break.evidence.json", "comment.evidence.json", "evidence.base.json", "fix.evidence.json",
                     "fix2.evidence.json"]
    again = Gatherer(config, task, folder).gather({"copy": patches["fix"], **patches}, patches)
    assert again.seconds == 0.0  # the same code part as `fix`: nothing runs
    assert again.candidates["copy"].results == first.candidates["fix"].results


def test_nothing_hidden_reaches_the_evidence(tmp_path):
    """A task whose hidden tests, test patch and gold patch differ from everything in the repository: none of
    their names or text appears in any check, outcome or file the evidence writes, and running the test patch
    would have failed every candidate."""
    repo, commit = make_repo(tmp_path / "calc", CALC_FILES)
    hidden = "tests/test_hidden_zebra.py"
    test_patch = patch_of(repo, {hidden: "def test_zebra_secret():\n    assert False, 'ZEBRA'\n"})
    gold = patch_of(repo, {"calc/ops.py": FIXED + "\nGOLD_OKAPI = 1\n"})
    task = Task(instance_id="calc-hidden", problem_statement="add() subtracts", repo_dir=str(repo), base_commit=commit,
                FAIL_TO_PASS=[f"{hidden}::test_zebra_secret"], PASS_TO_PASS=["tests/test_ops.py::test_mul"],
                patch=gold, test_patch=test_patch, eval_script=f"git apply - <<EOF\n{test_patch}EOF\npytest {hidden}")
    candidate = patch_of(repo, {"calc/ops.py": FIXED})
    out = tmp_path / "task"
    gathered = Gatherer(SelectionConfig(evidence="both", sandbox={"kind": "local"}), task, out).gather(
        {"r0": candidate, "r1": ""}, {"r0": candidate, "r1": ""})
    written = gathered.model_dump_json() + "".join(p.read_text() for p in out.iterdir())
    for secret in ("zebra", "ZEBRA", "OKAPI", "hidden"):
        assert secret not in written
    tests = {tid for record in [gathered.base, *gathered.candidates.values()] for r in record.results.values() for tid in r}
    assert tests == {"tests/test_ops.py::test_add", "tests/test_ops.py::test_mul"}
    assert gathered.candidates["r0"].results[gathered.checks[0].key] == {"tests/test_ops.py::test_add": True,
                                                                         "tests/test_ops.py::test_mul": True}


def test_select_per_evidence_mode_gathers_once_and_shows_the_judge(tmp_path):
    """A saved rtv run (no evidence) re-selected with none, filter, judge, both: filter drops the rollout that
    breaks a passing test, the evidence is gathered once (judge and both hold links to filter's files), the
    judge is shown it only in judge and both, and compare names each mode."""
    import os

    from typer.testing import CliRunner

    from codescale.eval.cli.main import app
    from codescale.eval.runs.rundir import RunDir
    from fake_server import FakeServer
    from saved_runs import calc_tasks, grade_by_plan, make_run

    with FakeServer() as server:
        run, script = make_run(server, tmp_path / "run", calc_tasks(tmp_path, 1), {"calc-0": ["wrong", "other", "fix", "empty"]},
                               strategy="rtv", n=4, rtv={"votes": 2})
        grade_by_plan(run)
        seen = len(server.requests)
        result = CliRunner().invoke(app, ["select", str(run.path), "--evidence", "none,filter,judge,both",
                                          "--out", str(tmp_path / "sel")])
        assert result.exit_code == 0, result.output
        prompts = [json.dumps(r.json) for r in server.requests[seen:]]
    assert "codescale compare" in result.output and "(evidence: both)" in result.output
    assert set(script.kinds[len(script.kinds) - len(prompts):]) == {"judge"}
    assert sum("What running its patch showed" in p for p in prompts) > 0

    folders = {mode: tmp_path / "sel" / mode / "tasks" / "calc-0" for mode in ("none", "filter", "judge", "both")}
    assert not list(folders["none"].glob("*evidence*"))
    names = sorted(p.name for p in folders["filter"].glob("*evidence*.json"))
    assert names == ["evidence.base.json", "g0-r0.evidence.json", "g0-r1.evidence.json", "g0-r2.evidence.json"]
    for mode in ("judge", "both"):
        for name in names:
            assert os.path.samefile(folders["filter"] / name, folders[mode] / name), (mode, name)
    plan = {rid: json.loads((folders["none"] / f"{rid}.traj.json").read_text())["steps"][0]["response"].split(",")[0][5:]
            for rid in ("g0-r0", "g0-r1", "g0-r2", "g0-r3")}
    wrong = next(rid for rid, p in plan.items() if p == "wrong")
    for mode in ("filter", "both"):
        selection = json.loads((folders[mode] / "selection.json").read_text())
        assert selection["dropped"][wrong] == "evidence: breaks 1 previously passing test(s): tests/test_ops.py::test_mul"
        assert plan[selection["winners"][0]] == "fix"
    judge = json.loads((folders["judge"] / "selection.json").read_text())
    assert wrong in judge["candidates"] and set(judge["dropped"].values()) == {"empty patch"}

    compared = CliRunner().invoke(app, ["compare", *(str(tmp_path / "sel" / m) for m in folders), "--json"])
    assert compared.exit_code == 0, compared.output
    rows = json.loads(compared.output)["runs"]
    assert [r["evidence"] for r in rows] == ["none", "filter", "judge", "both"]
    assert rows[0]["evidence_seconds_per_task"] == 0.0
    assert rows[1]["evidence_seconds_per_task"] == rows[2]["evidence_seconds_per_task"] > 0
    assert RunDir.existing(tmp_path / "sel" / "both").config()["config"]["scaling"]["selection"]["evidence"] == "both"
    from codescale.eval.analysis.report import build

    page = build([tmp_path / "sel" / "none", tmp_path / "sel" / "filter"], trajectories=False)
    assert "evidence s/task" in page and "failed: tests/test_ops.py::test_add, tests/test_ops.py::test_mul" in page


@pytest.mark.slow
def test_docker_evidence_on_a_bundled_task_never_runs_its_hidden_tests(base_image, docker_client, tmp_path, monkeypatch):
    """memo-1 in Docker: its hidden tests (FAIL_TO_PASS, added by the test patch) are in no check and no outcome;
    the gold code passes the existing tests near it, and a key that ignores keyword order breaks one of them.
    Its sandboxes carry the run's label, so that the run's cleanup finds them."""
    from codescale.eval.tasks.kinds import ensure_image
    from codescale.eval.tasks.load import suite_task

    monkeypatch.setenv("CODESCALE_BASE_IMAGE", base_image)
    task = suite_task("codescale__memo-1", base_image=base_image)
    ensure_image(task)
    ordered = task.patch.replace("frozenset(kwargs.items())", "tuple(kwargs.items())")
    patches = {"gold": task.patch, "ordered": ordered}
    run_id, since = f"test-evidence-{uuid.uuid4().hex[:8]}", time.time()
    gathered = Gatherer(SelectionConfig(sandbox={"kind": "docker"}), task, tmp_path, run_id=run_id).gather(patches, patches)
    created = [e["Actor"]["Attributes"].get("codescale.run_id")  # of this task's image: other test sessions may
               for e in engine_events(docker_client, since, "container", "create")  # share the engine
               if e["Actor"]["Attributes"].get("image") == task.image]
    assert created.count(run_id) >= 3 and set(created) == {run_id}  # the base and each candidate, fresh, labelled
    ran = {tid for record in [gathered.base, *gathered.candidates.values()] for r in record.results.values() for tid in r}
    assert ran and not ran & set(task.FAIL_TO_PASS)
    assert all(check.apply == "" for check in gathered.checks)  # the rollouts wrote no tests; nothing else is applied
    written = "".join(p.read_text() for p in tmp_path.iterdir())
    assert "test_keyword_values_are_part_of_key" not in written and "test_busy_entry_expires" not in written
    gold, wrong = (verdict(gathered, rid, {rid}) for rid in patches)
    assert gold.broken == [] and gold.existing == len([t for t in ran if gathered.base.results[gathered.checks[0].key].get(t)])
    assert wrong.broken == ["tests/test_decorators.py::test_keyword_order_does_not_matter"]
