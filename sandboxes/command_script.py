"""The shell that kills what a command of the Docker sandbox started: its timeout, and the kills that keep a fork bomb
from outliving its command. A file of its own because it is shell, not Python, and the one place that knows how a
command's processes are found and killed inside the container. Both shells use it: `exec` runs COMMAND_SCRIPT once
per command; `session` (sandboxes/session_script.py) defines KILLS once and keeps the groups in memory."""

from __future__ import annotations

KILLS = r"""
events=/sys/fs/cgroup/pids/pids.events; [ -r "$events" ] || events=/sys/fs/cgroup/pids.events
pids=${events%.events}
drain() {
  read -r limit <"$pids.max" || return; [ "$limit" = max ] && return
  for ((i = 0; i < 50000; i++)); do read -r n <"$pids.current" && [ "$n" -lt $((limit - 16)) ] && return; done
}
stop() { for _ in 1 2 3 4 5 6 7 8 9 10; do kill -KILL -- "-$1" || break; done; drain; }
sweep() {
  read -r _ now <"$events"
  alive=
  for group in $groups; do
    if [ "$now" != "$seen" ]; then stop "$group"; elif kill -0 -- "-$group"; then alive="$alive $group"; fi
  done
  groups=$alive
}
settle() {
  read -r _ after <"$events"
  if [ "$1" = 137 ] || [ "$now" != "$after" ]; then stop "$2"; else groups="$groups $2"; fi
  read -r _ seen <"$events"
}
"""
"""bash functions, shell builtins only (so that they still run when the container has no process left to give):
`sweep` before a command kills the process groups of earlier commands (`groups`) when any process was refused in
the container (the pids limit was hit) since the last command ended (`seen`), a fork bomb left running in the
background; `settle CODE GROUP` after a command kills the command's group when it was killed at its timeout (CODE
137) or the pids limit was hit while it ran, and else adds it to `groups`. After a kill `drain` waits (reading the
pids cgroup, for a bounded time) until the killed processes are reaped and there is room under the limit again, so
that the next command can start."""

COMMAND_STATE = "/tmp/.codescale-commands"
"""Where COMMAND_SCRIPT keeps the process groups of earlier commands (its `state`)."""
COMMAND_SCRIPT = KILLS + r"""
exec 3>&2 2>/dev/null
state=@STATE@
read -r seen groups <"$state"
sweep
set -m
timeout -s KILL "$1" "${@:2}" 2>&1 3>&- &
job=$!
wait "$job"; code=$?
settle "$code" "$job"
echo "$seen$groups" >"$state"
exit "$code"
""".replace("@STATE@", COMMAND_STATE)
"""bash script, arguments: the timeout, then the command's argv. Runs the command in a process group of its own
(job control on, so a plain `bash -c` command keeps its signals and stdin) under `timeout -s KILL`, with the kills
of KILLS around it; the groups of earlier commands that are still alive are kept in a state file between the
execs."""


def command_argv(argv: list[str], timeout: float) -> list[str]:
    """The argv that runs `argv` in a container under `COMMAND_SCRIPT`, killed after `timeout` seconds."""
    return ["bash", "-c", COMMAND_SCRIPT, "codescale-command", f"{timeout:.3f}", *argv]
