"""The bundled task suite: its records, loading and validation, generated eval scripts, and task images."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from codescale.agent.records import Task
from codescale.eval.tasks import bundled, images, kinds
from codescale.eval.tasks.eval_script import make_eval_script, patch_files
from codescale.eval.tasks.errors import TaskError
from codescale.eval.tasks.load import load_tasks, suite_task
from tests.conftest import BASE_IMAGE


def test_suite_has_at_least_twelve_varied_tasks():
    tasks = load_tasks(base_image=BASE_IMAGE)
    assert len(tasks) >= 12
    assert all(re.fullmatch(r"codescale__[a-z]+-1", t.instance_id) for t in tasks)
    difficulties = [t.difficulty for t in tasks]
    assert 3 <= difficulties.count("easy") <= 4 and difficulties.count("hard") >= 3
    assert "unittest" in {t.test_runner for t in tasks}
    for task in tasks:
        assert task.FAIL_TO_PASS and task.PASS_TO_PASS and task.patch and task.test_patch
        assert task.log_parser == ("parse_log_django" if task.test_runner == "unittest" else "parse_log_pytest")
        assert task.eval_type == "pass_and_fail"
        assert task.image.startswith(f"codescale-tasks/{task.instance_id}:")
        # the gold patch leaves the tests alone and the test patch leaves the code alone
        assert all(not f.startswith("tests/") for f in sum(patch_files(task.patch), []))
        assert all(f.startswith("tests/") for f in sum(patch_files(task.test_patch), []))


def test_base_commit_is_what_git_makes(tmp_path):
    task_dir = bundled.SUITE_DIR / "codescale__unitconv-1"
    for name, data in bundled.repo_files(task_dir).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    env = {**os.environ, **bundled.GIT_IDENTITY}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", bundled.COMMIT_MESSAGE]):
        subprocess.run(["git", *args], cwd=tmp_path, env=env, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert suite_task("codescale__unitconv-1", BASE_IMAGE).base_commit == head


def test_image_tag_follows_content_and_base_image():
    task_dir = bundled.SUITE_DIR / "codescale__thermo-1"
    assert images.suite_image(task_dir, "a:1") == images.suite_image(task_dir, "a:1")
    assert images.suite_image(task_dir, "a:1") != images.suite_image(task_dir, "b:1")


def test_load_by_id_json_jsonl_and_parquet(tmp_path):
    import pyarrow
    import pyarrow.parquet

    (task,) = load_tasks("codescale__thermo-1", base_image=BASE_IMAGE)
    record = task.model_dump()
    (tmp_path / "t.json").write_text(json.dumps([record]))
    (tmp_path / "t.jsonl").write_text(json.dumps(record) + "\n")
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist([record]), tmp_path / "t.parquet")
    for name in ("t.json", "t.jsonl", "t.parquet"):
        (loaded,) = load_tasks(str(tmp_path / name))
        assert loaded.model_dump() == record


def test_missing_required_field_names_task_and_field(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps({"instance_id": "acme__widget-7", "FAIL_TO_PASS": ["t::a"]}) + "\n")
    with pytest.raises(TaskError) as info:
        load_tasks(str(path))
    assert str(info.value) == "task acme__widget-7: field 'problem_statement': missing (required)"


def test_wrong_type_names_task_and_field(tmp_path):
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([{"instance_id": "acme__widget-8", "problem_statement": "x", "PASS_TO_PASS": 3}]))
    with pytest.raises(TaskError) as info:
        load_tasks(str(path))
    assert (info.value.task, info.value.field) == ("acme__widget-8", "PASS_TO_PASS")


def test_unknown_id_is_an_error():
    with pytest.raises(ValueError, match="codescale__nope-1"):
        load_tasks(ids=["codescale__nope-1"])


def test_classic_task_gets_generated_eval_script(tmp_path):
    test_patch = (
        "diff --git a/tests/test_new.py b/tests/test_new.py\nnew file mode 100644\n--- /dev/null\n"
        "+++ b/tests/test_new.py\n@@ -0,0 +1,2 @@\n+def test_x():\n+    assert True\n"
        "diff --git a/tests/test_old.py b/tests/test_old.py\n--- a/tests/test_old.py\n+++ b/tests/test_old.py\n"
        "@@ -1 +1 @@\n-a\n+b\n"
    )
    record = {"instance_id": "acme__w-1", "problem_statement": "x", "image": "img", "base_commit": "abc",
              "test_patch": test_patch, "FAIL_TO_PASS": ["tests/test_new.py::test_x"],
              "PASS_TO_PASS": ["tests/test_other.py::test_y"]}
    (tmp_path / "t.json").write_text(json.dumps(record))
    (task,) = load_tasks(str(tmp_path / "t.json"))
    assert (task.log_parser, task.eval_type) == ("parse_log_pytest", "pass_and_fail")
    lines = task.eval_script.splitlines()
    assert lines[4:6] == ["git checkout abc -- tests/test_old.py", "rm -f tests/test_new.py"]
    assert ("python3 -m pytest -rA --tb=short -p no:cacheprovider tests/test_old.py tests/test_new.py "
            "tests/test_other.py") in lines
    unittest_script = make_eval_script(Task(**{**record, "FAIL_TO_PASS": ["test_x (tests.test_new.T.test_x)"]}),
                                       "unittest")
    assert "python3 -m unittest -v tests.test_old tests.test_new" in unittest_script.splitlines()


def test_missing_image_names_task_and_field(docker_client):
    task = Task(instance_id="acme__widget-9", problem_statement="x", image="codescale-tasks/does-not-exist:0")
    with pytest.raises(TaskError) as info:
        kinds.ensure_image(task, docker_client)
    assert (info.value.task, info.value.field) == ("acme__widget-9", "image")
    assert "codescale-tasks/does-not-exist:0" in str(info.value) and "could not be pulled" in str(info.value)


def test_unbuildable_bundled_image_names_task_and_field(docker_client):
    task = suite_task("codescale__thermo-1", "codescale-tasks/no-such-base:0")
    with pytest.raises(TaskError) as info:
        kinds.ensure_image(task, docker_client)
    assert (info.value.task, info.value.field) == ("codescale__thermo-1", "image")
    assert "codescale-tasks/no-such-base:0" in str(info.value)


def test_image_has_repo_at_base_commit_setup_run_and_is_cached(docker_client, base_image):
    task = suite_task("codescale__unitconv-1", base_image)
    task_dir = bundled.SUITE_DIR / task.instance_id
    tag, _ = images.build_suite_image(task_dir, base_image, docker_client)
    assert tag == task.image
    assert images.build_suite_image(task_dir, base_image, docker_client) == (tag, False)
    out = docker_client.containers.run(
        tag, ["bash", "-c", "git rev-parse HEAD; git status --porcelain; test -f unitconv/_table.py && echo setup-ran"],
        remove=True, network_disabled=True,
    ).decode()
    assert out.splitlines() == [task.base_commit, "setup-ran"]
