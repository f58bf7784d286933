"""A SWE-bench record without `log_parser` is graded with the harness's own parser for its repository: psf/requests
records test ids with a runtime path in them cut to its last part, which only the harness's requests parser does."""

from __future__ import annotations

import json

import pytest

from codescale.eval.tasks.eval_script import harness_fields
from codescale.eval.tasks.load import load_tasks

F2P = "tests/test_requests.py::TestRequests::test_header_with_subclass_types"
P2P = [
    "tests/test_utils.py::TestExtractZippedPaths::test_unzipped_paths_unchanged[/]",
    "tests/test_utils.py::TestExtractZippedPaths::test_unzipped_paths_unchanged[/test_utils.py]",
    "tests/test_utils.py::TestExtractZippedPaths::test_unzipped_paths_unchanged[/location]",
    "tests/test_utils.py::TestSuperLen::test_io_streams[StringIO-Test]",
]
"""Ids as SWE-bench Verified records them for psf/requests (the parametrized paths cut by the harness's parser)."""
TEST_PATCH = """diff --git a/tests/test_requests.py b/tests/test_requests.py
--- a/tests/test_requests.py
+++ b/tests/test_requests.py
@@ -1,2 +1,5 @@
 import requests
+
+def test_header_with_subclass_types():
+    assert requests
"""
LOG = """+ git apply -v -
Checking patch tests/test_requests.py...
Applied patch tests/test_requests.py cleanly.
>>>>> Start Test Output
+ pytest -rA tests/test_requests.py tests/test_utils.py
============================= test session starts ==============================
collected 5 items

tests/test_requests.py .                                                 [ 20%]
tests/test_utils.py ....                                                 [100%]

==================================== PASSES ====================================
=========================== short test summary info ============================
PASSED tests/test_requests.py::TestRequests::test_header_with_subclass_types
PASSED tests/test_utils.py::TestExtractZippedPaths::test_unzipped_paths_unchanged[/]
PASSED tests/test_utils.py::TestExtractZippedPaths::test_unzipped_paths_unchanged[/testbed/tests/test_utils.py]
PASSED tests/test_utils.py::TestExtractZippedPaths::test_unzipped_paths_unchanged[/etc/invalid/location]
PASSED tests/test_utils.py::TestSuperLen::test_io_streams[StringIO-Test]
============================== 5 passed in 0.31s ===============================
>>>>> End Test Output
"""
"""The log of the gold patch: every test passed."""


def test_a_requests_record_without_log_parser_is_graded_by_the_harness_parser_for_requests(tmp_path):
    pytest.importorskip("swebench")
    from swebench.harness.grading import get_eval_report
    from swebench.harness.utils import make_test_spec

    record = {"instance_id": "psf__requests-6028", "repo": "psf/requests", "version": "2.27",
              "base_commit": "0192aac24123735b3eaf9b08df46429bb770c283", "problem_statement": "Proxy auth fails",
              "FAIL_TO_PASS": json.dumps([F2P]), "PASS_TO_PASS": json.dumps(P2P), "test_patch": TEST_PATCH}
    path = tmp_path / "verified.jsonl"
    path.write_text(json.dumps(record) + "\n")
    [task] = load_tasks(str(path))
    log = tmp_path / "test_output.txt"
    log.write_text(LOG)
    spec = make_test_spec(harness_fields(task).model_dump())
    prediction = {"instance_id": task.instance_id, "model_name_or_path": "gold", "model_patch": "the gold patch"}
    report = get_eval_report(spec, prediction, str(log), include_tests_status=True)[task.instance_id]
    assert report["tests_status"]["PASS_TO_PASS"]["failure"] == []
    assert report["resolved"] is True
