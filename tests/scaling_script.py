"""A fake-server responder that plays agent, summarizer and judge for the scaling tests.

Each new rollout (a request with only the system and instance messages) takes the next plan from
`plans`; its replies say `PLAN <name>, step <i>` and run `commands[plan][i]`, then submit. The
summarizer reports `WORKS` for rollouts of the `fix` plan and numbers its summaries; the judge names the
candidate whose block says `WORKS` (else the one shown first). Which prompt is which is told by the
system prompts of configs/agent.yaml and configs/scaling.yaml.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import deque

JUDGE, SUMMARIZER = "You review attempts", "You summarize one attempt"
SUBMIT = "echo CODESCALE_SUBMIT"
CANDIDATE = re.compile(r'^<candidate-([0-9a-f]+) number="\d+">\n(.*?)^</candidate-\1>$', re.MULTILINE | re.DOTALL)


def candidate_blocks(prompt: str) -> list[str]:
    """The text of each candidate's block in a judge prompt, in the order shown."""
    return [text for _, text in CANDIDATE.findall(prompt)]


class ScalingScript:
    def __init__(self, plans: list[str], commands: dict[str, list[str]]):
        self.plans = deque(plans)
        self.commands = commands
        self.instance_prompts: list[str] = []
        """The instance prompt of every rollout, in the order they started."""
        self.kinds: list[str] = []
        """`agent`, `summarizer` or `judge` per request answered, in order."""
        self._lock = threading.Lock()
        self._summaries = itertools.count(1)

    def __call__(self, body: dict):
        system = body["messages"][0]["content"]
        kind = "judge" if system.startswith(JUDGE) else "summarizer" if system.startswith(SUMMARIZER) else "agent"
        with self._lock:
            self.kinds.append(kind)
        return getattr(self, kind)(body)

    def agent(self, body: dict) -> str:
        messages = body["messages"]
        if len(messages) == 2:
            with self._lock:
                plan = self.plans.popleft()
                self.instance_prompts.append(messages[1]["content"])
        else:
            plan = re.match(r"PLAN (\w+)", messages[2]["content"]).group(1)
        if plan == "crash":
            raise RuntimeError("scripted model failure")
        step = (len(messages) - 2) // 2
        steps = self.commands.get(plan, [])
        command = steps[step] if step < len(steps) else SUBMIT
        return f"PLAN {plan}, step {step}.\n```bash\n{command}\n```"

    def summarizer(self, body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        plan = re.search(r"PLAN (\w+)", prompt).group(1)
        number = next(self._summaries)
        verdict = "WORKS: the tests pass after the change." if plan == "fix" else "The tests still fail."
        return (
            f"## Understanding\nSummary #{number} of a rollout with plan {plan}.\n\n"
            f"## Actions\nRan the plan's commands.\n\n## Final state\nSubmitted. {verdict}\n\n"
            f"## Lessons\nLesson #{number}: " + ("apply the same fix." if plan == "fix" else "try another fix.")
        )

    def judge(self, body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        blocks = candidate_blocks(prompt)
        best = next((i for i, block in enumerate(blocks, 1) if "WORKS" in block), 1)
        return f"Candidate {best} is best.\nANSWER: {best}"
