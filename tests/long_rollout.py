"""A fake-server responder playing a long rollout: an agent that runs its commands in order, one per request it
answers, then submits; and the condensing model, whose summaries name the steps they cover.

    script = LongRollout([FIX] + [LONG_OUTPUT] * 57)
    with FakeServer(responder=script, window=6000) as server: ...

The agent's place in its plan is the number of agent requests answered so far (a request the server refuses never
reaches the responder), so it does not depend on how much of the history a request still holds.
"""

from __future__ import annotations

import re
import threading

CONDENSER = "You condense"
SUBMIT = "echo CODESCALE_SUBMIT"
LONG_OUTPUT = "seq 1000 1399"
"""400 lines of one word: each step's observation is about 400 of the fake server's tokens (2,000 characters)."""


class LongRollout:
    def __init__(self, commands: list[str], condenser_reply: str | None = None):
        self.commands = commands
        self.condenser_reply = condenser_reply
        """When set, what the condensing model answers; else a summary in sections naming its steps."""
        self.answered = 0
        """Agent requests answered so far."""
        self.condensed: list[tuple[int, int]] = []
        """(first, last) step of each condensing request, in order."""
        self._lock = threading.Lock()

    def __call__(self, body: dict) -> str:
        messages = body["messages"]
        if messages[0]["content"].startswith(CONDENSER):
            first, last = map(int, re.search(r'<steps-[0-9a-f]+ first="(\d+)" last="(\d+)">', messages[1]["content"]).groups())
            with self._lock:
                self.condensed.append((first, last))
            if self.condenser_reply is not None:
                return self.condenser_reply
            return (f"## Understanding\nadd() subtracts instead of adding.\n\n## Actions\nSteps {first} to {last}: "
                    f"listed long outputs.\n\n## Final state\nWork through step {last} is summarized here.")
        with self._lock:
            step, self.answered = self.answered, self.answered + 1
        command = self.commands[step] if step < len(self.commands) else SUBMIT
        return f"Step {step}.\n```bash\n{command}\n```"
