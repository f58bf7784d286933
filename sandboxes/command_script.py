"""The script every command of the Docker sandbox runs under: its timeout, and the kills that keep a fork bomb
from outliving its command. A file of its own because it is shell, not Python, and the one place that knows how a
command's processes are found and killed inside the container."""

from __future__ import annotations

COMMAND_STATE = "/tmp/.codescale-commands"
"""Where COMMAND_SCRIPT keeps the process groups of earlier commands (its `state`)."""
COMMAND_SCRIPT = r"""
exec 3>&2 2>/dev/null
events=/sys/fs/cgroup/pids/pids.events; [ -r "$events" ] || events=/sys/fs/cgroup/pids.events
pids=${events%.events}
state=@STATE@
drain() {
  read -r limit <"$pids.max" || return; [ "$limit" = max ] && return
  for ((i = 0; i < 50000; i++)); do read -r n <"$pids.current" && [ "$n" -lt $((limit - 16)) ] && return; done
}
stop() { for _ in 1 2 3 4 5 6 7 8 9 10; do kill -KILL -- "-$1" || break; done; drain; }
read -r _ now <"$events"
read -r seen groups <"$state"
alive=
for group in $groups; do
  if [ "$now" != "$seen" ]; then stop "$group"; elif kill -0 -- "-$group"; then alive="$alive $group"; fi
done
set -m
timeout -s KILL "$1" "${@:2}" 2>&1 3>&- &
job=$!
wait "$job"; code=$?
read -r _ after <"$events"
if [ "$code" = 137 ] || [ "$now" != "$after" ]; then stop "$job"; else alive="$alive $job"; fi
read -r _ after <"$events"
echo "$after$alive" >"$state"
exit "$code"
""".replace("@STATE@", COMMAND_STATE)
"""bash script, arguments: the timeout, then the command's argv. Runs the command in a process group of its own
(job control on, so a plain `bash -c` command keeps its signals and stdin) under `timeout -s KILL`, and kills
that whole group when the command is killed at its timeout or when any process was refused in the container
while it ran (the pids limit was hit). The groups of earlier commands that are still alive are listed in a
state file: when the pids limit was hit since the last command ended (a fork bomb left running in the
background), they are killed before the next command starts. After a kill it waits (reading the pids cgroup,
for a bounded time) until the killed processes are reaped and there is room under the limit again, so the
next command can start. Uses only shell builtins up to the start of the command, so it still runs when the
container has no process left to give."""


def command_argv(argv: list[str], timeout: float) -> list[str]:
    """The argv that runs `argv` in a container under `COMMAND_SCRIPT`, killed after `timeout` seconds."""
    return ["bash", "-c", COMMAND_SCRIPT, "codescale-command", f"{timeout:.3f}", *argv]
