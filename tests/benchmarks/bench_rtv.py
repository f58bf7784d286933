"""Judge requests and tokens of RTV over N candidates, with and without n-batching, against the fake server.

    python tests/benchmarks/bench_rtv.py [--candidates 16] [--votes 8] [--summary-words 350] [--latency 0.2]

Each candidate gets a summary of about `--summary-words` words; the scripted judge replies with about 60
words of reasoning and an `ANSWER:` line naming the candidate with the lowest number (so no match ties and
the bracket is the same in both modes). The fake server counts tokens as whitespace-split words; with
`--latency` it sleeps that long per request, to show the wall-time effect of fewer requests (a real server
also spends longer on a request for n samples, so the wall-time figure flatters batching somewhat).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fake_server

from fake_server import FakeServer  # noqa: E402
from scaling_script import candidate_blocks  # noqa: E402

from codescale.agent.models.base import ModelConfig  # noqa: E402
from codescale.agent.records import Task  # noqa: E402
from codescale.scaling.judge import Judge, JudgeConfig  # noqa: E402
from codescale.scaling.records import Summary  # noqa: E402
from codescale.scaling.rtv import RTVConfig, tournament  # noqa: E402

REASONING = " ".join(["Candidate {n} reproduced the failure, changed the parser and ran the tests."] * 5)


def summary(rid: str, words: int) -> Summary:
    filler = " ".join(f"detail{i}" for i in range(max(0, words - 40)))
    return Summary(
        task_id="bench", rollout_id=rid,
        understanding=f"{rid}: the parser drops the last field when the line ends with a separator.",
        actions=f"Read parser.py and tests; edited split_fields. {filler}",
        evidence="tests/test_parser.py::test_trailing_separator passed; 14 passed in total.",
        final_state="Submitted; verified by the test suite.",
    )


def judge_reply(body: dict) -> str:
    prompt = body["messages"][-1]["content"]
    numbers = [int(re.search(r"^## Understanding\nr(\d+):", block, flags=re.M).group(1)) for block in candidate_blocks(prompt)]
    best = 1 + numbers.index(min(numbers))
    return REASONING.format(n=best) + f"\nANSWER: {best}"


def run(candidates: int, votes: int, words: int, latency: float, batch: bool) -> dict:
    ids = [f"r{i}" for i in range(candidates)]
    summaries = {rid: summary(rid, words) for rid in ids}

    def responder(body):
        time.sleep(latency)
        return judge_reply(body)

    with FakeServer(responder=responder) as server:
        judge = Judge(JudgeConfig(batch_votes=batch), ModelConfig(id="openai/fake", base_url=server.openai_url))
        task = Task(instance_id="bench", problem_statement="The CSV parser drops the last field. " * 20)
        judge.vote(task, summaries, {}, [ids[:2]])  # warm-up: the SDK's first request pays for lazy imports
        server.requests.clear()
        start = time.monotonic()
        selection = tournament(ids, lambda orders: judge.vote(task, summaries, {}, orders), RTVConfig(votes=votes), seed=0)
        seconds = time.monotonic() - start
        assert selection.winners == ["r0"], selection.winners
        votes_cast = sum(len(m.votes) for r in selection.rounds for m in r.matches)
        return {"requests": len(server.requests), "votes": votes_cast, "usage": selection.usage, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--votes", type=int, default=8)
    parser.add_argument("--summary-words", type=int, default=350)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the server sleeps per request")
    args = parser.parse_args()
    print(f"RTV over {args.candidates} candidates, G=2, V={args.votes}, summaries of ~{args.summary_words} words, "
          f"judge concurrency {JudgeConfig().concurrency}, server latency {args.latency:g} s/request")
    print(f"{'mode':<12} {'requests':>8} {'votes':>6} {'input tok':>10} {'output tok':>10} {'total tok':>10} {'wall s':>7}")
    for batch in (True, False):
        r = run(args.candidates, args.votes, args.summary_words, args.latency, batch)
        u = r["usage"]
        name = "n-batched" if batch else "one per vote"
        print(f"{name:<12} {r['requests']:>8} {r['votes']:>6} {u.input_tokens:>10} {u.output_tokens:>10} "
              f"{u.input_tokens + u.output_tokens:>10} {r['seconds']:>7.2f}")


if __name__ == "__main__":
    main()
