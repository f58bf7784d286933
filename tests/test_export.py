"""`codescale export`: ATIF trajectories that Harbor's own validator accepts, mini-SWE-agent trajectory files that its
own inspector loads and shows, and predictions the swebench harness reads; each checked with the real package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codescale.agent.records import Trajectory
from codescale.eval.cli.main import app
from codescale.eval.runs.rundir import RunDir
from peers import peer
from saved_runs import pdr_run


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    run, _ = pdr_run(tmp_path_factory.mktemp("export"))
    return run


def export(run: Path, fmt: str, out: Path, *more: str) -> list[Path]:
    result = CliRunner().invoke(app, ["export", str(run), "--format", fmt, "--out", str(out), *more])
    assert result.exit_code == 0, result.output
    return sorted(p for p in out.rglob("*") if p.is_file())


def trajectories(run: RunDir) -> dict[tuple[str, str], Trajectory]:
    return {(task, p.name.removesuffix(".traj.json")): Trajectory.load(p)
            for task in run.task_ids() for p in run.files(task).trajectories()}


def validate(harbor, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(harbor.python), "-m", "harbor.utils.trajectory_validator", str(path)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "HARBOR_TELEMETRY": "0"})


def test_every_atif_trajectory_passes_harbors_validator_and_holds_the_conversation(scripted, tmp_path):
    harbor = peer("harbor")
    files = export(scripted.path, "atif", tmp_path / "atif")
    trajs = trajectories(scripted)
    assert [p.relative_to(tmp_path / "atif").as_posix() for p in files] == \
        sorted(f"{task}/{rid}.json" for task, rid in trajs)
    for path in files:
        checked = validate(harbor, path)
        assert checked.returncode == 0, (path, checked.stdout, checked.stderr)
        atif = json.loads(path.read_text())
        traj = trajs[(path.parent.name, path.name.removesuffix(".json"))]
        conversation = [{"role": {"agent": "assistant"}.get(s["source"], s["source"]), "content": s["message"]}
                        for s in atif["steps"][:2]]
        for s in atif["steps"][2:]:
            conversation += [{"role": "assistant", "content": s["message"]},
                             {"role": "user", "content": s["observation"]["results"][0]["content"]}]
        assert conversation == traj.messages()
        commands = [s.get("tool_calls", [{}])[0].get("arguments", {}).get("command") for s in atif["steps"][2:]]
        assert commands == [s.action for s in traj.steps]
        assert atif["final_metrics"]["total_prompt_tokens"] == traj.usage.input_tokens
        assert atif["extra"]["patch"] == traj.patch and atif["session_id"] == "pdr"

    broken = json.loads(files[0].read_text())
    broken["steps"][1]["step_id"] = 7  # the validator does check: a gap in the step ids is refused
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    assert validate(harbor, tmp_path / "broken.json").returncode == 1


def test_a_trajectory_from_before_prompts_were_kept_exports_with_rebuilt_opening_messages(scripted, tmp_path):
    harbor = peer("harbor")
    old = tmp_path / "old"
    shutil.copytree(scripted.path, old)
    for path in (old / "tasks").rglob("*.traj.json"):
        record = json.loads(path.read_text())
        del record["prompt"]
        path.write_text(json.dumps(record))
    files = export(old, "atif", tmp_path / "atif", "--final-only")
    answers = [RunDir(old).results()[task].final_rollout for task in ("calc-0", "calc-1")]
    assert [p.name for p in files] == [f"{rid}.json" for rid in answers]  # each task's answer only
    for path in files:
        assert validate(harbor, path).returncode == 0
        atif = json.loads(path.read_text())
        assert atif["extra"]["opening"] == "rebuilt" and "rebuilt from run.yaml and task.json" in atif["notes"]
        assert [s["source"] for s in atif["steps"][:3]] == ["system", "user", "agent"]


def test_a_rollout_that_never_sent_a_message_is_left_out_of_atif_and_named(scripted, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(scripted.path, run)
    (run / "tasks" / "calc-1" / "task.json").unlink()  # nothing to rebuild its opening messages from
    Trajectory(task_id="calc-1", rollout_id="g9-r9", model="openai/fake", exit_status="sandbox_error",
               error="image not found").save(run / "tasks" / "calc-1" / "g9-r9.traj.json")
    result = CliRunner().invoke(app, ["export", str(run), "--format", "atif", "--out", str(tmp_path / "atif")])
    assert result.exit_code == 0 and "left out 1 rollout(s) that sent no message: calc-1/g9-r9" in result.output
    assert len(list((tmp_path / "atif").rglob("*.json"))) == 16 and not (tmp_path / "atif" / "calc-1" / "g9-r9.json").exists()


INSPECT = textwrap.dedent("""
    import asyncio, json, sys
    from pathlib import Path
    from minisweagent.run.utilities.inspector import TrajectoryInspector

    files = sorted(Path(sys.argv[1]).rglob("*.traj.json"))  # what `mini-extra inspector DIR` opens
    inspector = TrajectoryInspector(files)

    async def main():
        seen = []
        async with inspector.run_test() as pilot:
            for i in range(len(files)):
                inspector.i_trajectory = i
                await pilot.pause()
                shown = [str(w.render()) for w in inspector.query("#content Static")]
                seen.append({"file": str(files[i]), "title": inspector.title, "pages": inspector.n_steps,
                             "messages": inspector.messages, "shown": shown})
        print(json.dumps(seen))

    asyncio.run(main())
""")


def test_mini_swe_agent_files_load_in_its_own_inspector(scripted, tmp_path):
    mini = peer("mini-swe-agent")
    files = export(scripted.path, "mini-swe-agent", tmp_path / "mini")
    assert (tmp_path / "mini" / "preds.json") in files
    env = {**os.environ, "MSWEA_CONFIGURED": "true", "MSWEA_SILENT_STARTUP": "1",
           "MSWEA_GLOBAL_CONFIG_DIR": str(tmp_path / "mswea-config")}
    ran = subprocess.run([str(mini.python), "-c", INSPECT, str(tmp_path / "mini")], capture_output=True, text=True,
                         timeout=300, env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    seen = json.loads(ran.stdout.strip().splitlines()[-1])
    trajs = trajectories(scripted)
    assert len(seen) == len(trajs) == 16
    for view in seen:
        path = Path(view["file"])
        traj = trajs[(path.parent.name, path.name.removesuffix(".traj.json"))]
        assert view["title"].startswith(f"Trajectory {seen.index(view) + 1}/16 - {path.name} - Step 1/")
        assert view["pages"] == len(traj.steps) + 1  # the opening page, then one per model reply
        sent = [m for m in view["messages"] if m["role"] != "exit"]
        assert [(m["role"], m["content"]) for m in sent] == \
            [(m["role"], m["content"]) for m in traj.messages()][: len(sent)]
        assert view["messages"][-1] == {"role": "exit", "content": traj.patch,
                                        "extra": {"exit_status": "Submitted", "submission": traj.patch}}
        assert view["shown"] == ["SYSTEM", traj.prompt[0]["content"], "USER", traj.prompt[1]["content"]]
        info = json.loads(path.read_text())["info"]
        assert (info["exit_status"], info["submission"]) == ("Submitted", traj.patch)


def test_predictions_are_what_the_harness_reads_one_per_task_the_last_result_winning(scripted, tmp_path):
    from swebench.harness.run_evaluation import get_predictions_from_file

    run = tmp_path / "run"
    shutil.copytree(scripted.path, run)
    lines = (run / "results.jsonl").read_text().splitlines()
    rerun = json.loads(lines[0]) | {"final_patch": "diff --git a/x b/x\n"}
    (run / "results.jsonl").write_text("\n".join(lines + [json.dumps(rerun)]) + "\n")  # calc-0 run again
    export(run, "preds", tmp_path / "preds")
    export(run, "mini-swe-agent", tmp_path / "mini")
    expected = [{"instance_id": "calc-0", "model_name_or_path": "openai/fake", "model_patch": "diff --git a/x b/x\n"},
                {"instance_id": "calc-1", "model_name_or_path": "openai/fake",
                 "model_patch": json.loads(lines[1])["final_patch"]}]
    assert get_predictions_from_file(str(tmp_path / "preds" / "preds.jsonl"), "unused", "test") == expected
    assert get_predictions_from_file(str(tmp_path / "mini" / "preds.json"), "unused", "test") == expected
