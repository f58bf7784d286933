"""The shell side of the Docker sandbox's `session` shell: one bash driver per rollout, started by one exec, that runs
the commands it is sent one at a time with the contract of `exec` (sandboxes/command_script.py's kills), and, for
`agent.shell_state: persistent`, the wrapper that carries a command's shell state to the next. Shell, not Python."""

from __future__ import annotations

from codescale.sandboxes.command_script import KILLS

DRIVER = KILLS + r"""
exec 2>/dev/null
dir=$1 wrapper=$2 workdir=${3:-$PWD}
fifo=$dir/out.0 nap=$dir/nap relay= groups= seen= state= saves=0 n=0
mkdir -p "$dir" && mkfifo "$nap" "$fifo" && exec {sleep}<>"$nap" || exit 1
read -r _ seen <"$events"
set -m
end() { printf '%s:end:%d\n' "$token" "$1" >&"$w"; exec {w}>&-; }
while IFS= read -r -d '' token && IFS= read -r -d '' mode && IFS= read -r -d '' limit && IFS= read -r -d '' here &&
  IFS= read -r -d '' argc; do
  argv=()
  for ((i = 0; i < argc; i++)); do IFS= read -r -d '' arg || exit 0; argv+=("$arg"); done
  if [ "$mode" = hello ]; then printf '%s:ready:%d\n' "$token" "$$"; continue; fi
  if [ -n "$relay" ] && kill -0 "$relay"; then
    for t in 0.002 0.004 0.008 0.016; do read -r -t "$t" -u "$sleep"; kill -0 "$relay" || break; done
    if kill -0 "$relay"; then kill -KILL "$relay"; wait "$relay"; rm -f "$fifo"; fifo=$dir/out.$((++n)); fi
  fi
  printf '%s:start\n' "$token"
  sweep
  [ -p "$fifo" ] || { mkdir -p "$dir"; mkfifo "$fifo"; }
  cat <"$fifo" {sleep}<&- &
  relay=$!
  exec {w}>"$fifo"
  cd -- "${here:-$workdir}" || { printf 'cannot enter %s\n' "${here:-$workdir}" >&"$w"; end 126; continue; }
  if [ "$mode" = state ]; then
    out=$dir/state.$((saves % 2)); : >"$out"
    argv=(bash -c "$wrapper" codescale-shell "$state" "$out" "${argv[0]}")
  elif [ "$mode" = shell ]; then
    argv=(bash -c "${argv[0]}")
  fi
  timeout -s KILL "$limit" "${argv[@]}" </dev/null >&"$w" 2>&1 {w}>&- {sleep}<&- &
  job=$!
  wait "$job"; code=$?
  settle "$code" "$job"
  if [ "$mode" = state ] && [ "$code" != 137 ] && [ -s "$out" ]; then
    state=$out saves=$((saves + 1))
  fi
  end "$code"
done
"""
"""bash script, arguments: its own folder (made; a FIFO for each command's output, the saved shell states), WRAPPER
and the work directory (by default its own). It reads requests from stdin, each a list of NUL-terminated fields: a
token, the mode (`hello`; `shell`: one command line, run by a fresh `bash -c`; `state`: one command line, run by
WRAPPER in the shell state the last `state` command left; `run`: an argv, run as it is), the timeout, the directory
to run in (empty: the work directory), the number of arguments, the arguments. For `hello` it prints
`<token>:ready:<its pid>`. For a command it prints `<token>:start` on stdout, then runs the command in that
directory with stdin from /dev/null, stdout and stderr into the FIFO, under `timeout -s KILL` in a process group of
its own with the kills of KILLS around it, while `cat` relays the FIFO to stdout; when the command has ended it
writes `<token>:end:<exit code>` into the FIFO, so the marker follows everything the command wrote. A process the
command left in the background still holding the FIFO keeps its relay alive: at the next command, before its start
marker, that relay is killed (the process's later writes fail, as when `docker exec` closes a finished command's
output; what it wrote since the end marker belongs to no command) and a new FIFO is used. It prints nothing before
the first request, and nothing of its own on stderr."""

WRAPPER = r"""
__codescale_special() {
  case $1 in
    BASH* | SHELLOPTS | EUID | UID | PPID | SHLVL | RANDOM | SRANDOM | SECONDS | LINENO | HISTCMD | FUNCNAME | \
      GROUPS | DIRSTACK | PIPESTATUS | OPTIND | OPTERR | OPTARG | EPOCHREALTIME | EPOCHSECONDS | COMP_* | PWD | \
      _ | __codescale_*) return 0 ;;
  esac
  return 1
}
__codescale_restore() {
  local name
  compgen -v >"$1.names" && mapfile -t __codescale_names <"$1.names"
  for name in "${__codescale_names[@]}"; do
    __codescale_special "$name" || [ -n "${__codescale_kept[$name]}" ] || unset "$name"
  done
  unset __codescale_kept __codescale_names
  cd -- "$__codescale_pwd"
  . "$1.options"
} 2>/dev/null
__codescale_save() {
  { set +o; shopt -p; } >"$1.options"
  set +euo pipefail
  local name line names
  compgen -v >"$1.names" && mapfile -t names <"$1.names"
  {
    printf 'declare -A __codescale_kept=()\n'
    for name in "${names[@]}"; do
      __codescale_special "$name" && continue
      declare -p "$name"
      printf '__codescale_kept[%q]=1\n' "$name"
    done
    declare -F >"$1.names" && mapfile -t names <"$1.names"
    for line in "${names[@]}"; do
      name=${line##* }
      [[ $name == __codescale_* ]] && continue
      declare -f "$name"
      [[ $line == "declare -fx "* ]] && printf 'export -f %q\n' "$name"
    done
    alias -p
    umask -p
    printf '__codescale_pwd=%q\n' "$PWD"
  } >"$1"
} 2>/dev/null
shopt -s expand_aliases
if [ -s "$1" ]; then . "$1" 2>/dev/null; __codescale_restore "$1"; fi
eval "$3"
__codescale_status=$?
__codescale_save "$2"
exit "$__codescale_status"
"""
"""bash script, arguments: the state file to load ("" for none), the one to save to, the command line. Loads the
shell state the command before left (variables, exported or not, with those it unset unset; functions; aliases;
options; umask; the directory; the file is sourced at the top level so that its `declare`s stay global), runs the
command line in this shell, then saves the state it leaves. A command killed at its timeout, or that leaves the
shell with `exit`, saves nothing: the next starts from the state before it."""


def session_argv(folder: str, workdir: str) -> list[str]:
    """The argv of the exec that starts a session's DRIVER with its folder and work directory in the container."""
    return ["bash", "-c", DRIVER, "codescale-session", folder, WRAPPER, workdir]
