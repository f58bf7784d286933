"""A judge that fails every request of one ordering decides no match from the other ordering alone."""

from __future__ import annotations

import json

from fake_server import FakeServer
from scaling_script import ScalingScript, candidate_blocks
from test_cli import codescale
from test_pdr import COMMANDS
from test_sampling import task_file


class OneOrderingFails(ScalingScript):
    """The judge always names the candidate shown first (position-biased) and fails every request that shows
    the `wrong` rollout first: its server answers an error, so only the other ordering could decide."""

    def judge(self, body: dict) -> str:
        blocks = candidate_blocks(body["messages"][-1]["content"])
        if "plan wrong" in blocks[0]:
            raise RuntimeError("scripted judge outage for this ordering")
        return "Candidate 1 is best.\nANSWER: 1"


def test_a_judge_failing_one_ordering_decides_no_match_from_the_other(tmp_path):
    script = OneOrderingFails(["fix", "wrong"], COMMANDS)
    out = tmp_path / "run"
    with FakeServer(responder=script) as server:
        done = codescale("run", "--task", str(task_file(tmp_path)), "--model", "openai/fake", "--base-url",
                         server.openai_url, "--sandbox", "local", "--strategy", "rtv", "-c", "scaling.n=2",
                         "-c", "scaling.rtv.votes=4", "-c", "model.retries.attempts=1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    [result] = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    [[match]] = [r["matches"] for r in result["selection"]["rounds"]]
    valid = {tuple(v["order"]) for v in match["votes"] if v["choice"]}
    shown = {tuple(v["order"]) for v in match["votes"]}
    assert len(shown) == 2 and len(valid) == 1  # every vote of one ordering failed...
    assert match["tie_break"] == "random" and "got no valid vote" in match["note"]  # ...so the tie rule picked
    # V=4: 2 votes per ordering, the failed ordering's 2 asked again, then 4 re-votes: 2 + 2 + 2 of them failed
    assert len(match["votes"]) == 10
    reliability = result["reliability"]
    assert reliability["failed_votes"] == reliability["invalid_votes"] == 6 and reliability["votes"] == 10
    assert reliability["tie_rule_picks"] == 1 and reliability["summaries"] == 2
