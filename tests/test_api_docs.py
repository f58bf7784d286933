"""docs/API.md's examples, run as written, in order, in one namespace: the Python API against a scripted model server
(playing agent, summarizer and judge) with the bundled thermo task in Docker, graded by the real harness. The page's
model and server are swapped for the scripted server's once the block naming them has run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fake_server import FakeServer
from scaling_script import ScalingScript

DOC = Path(__file__).resolve().parent.parent / "docs" / "API.md"
FIX = "sed -i 's/^ZERO_CELSIUS_IN_KELVIN = 273$/ZERO_CELSIUS_IN_KELVIN = 273.15/' thermo/scales.py"


def blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.DOTALL | re.MULTILINE)


def test_the_page_has_an_example_of_every_function():
    from codescale.eval import api

    text = "\n".join(blocks())
    used = {name for name in api.__all__ if name[0].islower() and f"api.{name}(" in text}
    assert used == {name for name in api.__all__ if name[0].islower()}


@pytest.mark.slow
def test_the_api_pages_examples_run(docker_client, base_image, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # two rollouts in each of the three runs (run, the replay, batch): one fixes the bug, one runs the tests only
    plans = ["fix", "look"] * 3
    script = ScalingScript(plans, {"fix": [FIX, "python3 -m pytest -q"], "look": ["python3 -m pytest -q"]})
    with FakeServer(responder=script) as server:
        namespace: dict = {}
        for block in blocks():
            code = block.replace("codescale/base:bookworm", base_image)
            exec(compile(code, str(DOC), "exec"), namespace)
            if "BASE_URL" in namespace and namespace["BASE_URL"] != server.openai_url:
                namespace.update(MODEL="openai/fake", BASE_URL=server.openai_url)
    printed = capsys.readouterr().out
    assert "Kelvin conversions are slightly off" in printed
    assert namespace["result"].status == "done" and namespace["outcome"].done == 1
    assert [g.resolved for g in namespace["grades"]] == [True]  # the judge picked the fixing rollout
    assert namespace["grades"][0].passed == 1 and namespace["grades"][0].total == 2
    assert [row.resolved.value for row in namespace["comparison"].runs] == [1.0, 1.0]
    assert (tmp_path / "runs" / "thermo" / "codescale.log").is_file()
