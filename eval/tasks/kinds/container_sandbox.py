"""The Docker sandbox a container task (Terminal-Bench) gets: the environment its task.toml declares, within a fixed
set of rights. A user's sandbox settings may lock it down further, never open it wider.

- network: Docker's default bridge when the task allows internet (Harbor's default), else none; the same container
  runs the agent and then the tests, so both phases have the same network.
- capabilities: every one dropped, then CAPABILITIES given back (what package managers and services measured here
  need), no more; `no-new-privileges` stays on.
- memory and CPUs (each at most this machine's: a task.toml cannot ask for more than there is), disk (the task's
  storage) and environment variables from the task, where the settings name none.
"""

from __future__ import annotations

import os
from typing import Any

from codescale.eval.tasks.errors import TaskError

CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE")
"""What a container task's root may do beyond an unprivileged user. Measured with apt-get on a Debian image: without
DAC_OVERRIDE, SETUID or SETGID an install fails (apt drops to its `_apt` user to download); without CHOWN or FOWNER
it warns. KILL lets root stop a service running as another user (nginx's workers); NET_BIND_SERVICE lets a service
bind a port below 1024 on engines that do not open those ports to every user. Docker's default set adds FSETID,
MKNOD, NET_RAW, SETFCAP, SETPCAP, SYS_CHROOT and AUDIT_WRITE: none of them is given."""
OPEN_NETWORK = "bridge"
"""The network of a task that allows internet: Docker's default bridge."""
WIDE_NETWORKS = ("host",)
"""Network modes never given to a container task (the machine's own network)."""


def sandbox_settings(task: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """The user's sandbox `settings` with `task`'s where they name none (a ContainerTask); TaskError when they would
    open the container wider than the task allows. Other kinds of sandbox than docker are left as they are."""
    if settings.get("kind", "docker") != "docker":
        return dict(settings)
    wanted: dict[str, Any] = {
        "memory": f"{min(task.memory_mb, machine_memory_mb())}m",
        "cpus": min(task.cpus, float(os.cpu_count() or 1)),
        "network": OPEN_NETWORK if task.allow_internet else "none",
        "cap_drop": ["ALL"],
        "cap_add": list(task.capabilities),
        "no_new_privileges": True,
    }
    if task.storage_mb:
        wanted["disk_limit"] = f"{task.storage_mb}m"
    merged = {**wanted, **settings, "env": {**task.env, **settings.get("env", {})}}
    _within(task, merged)
    return merged


def machine_memory_mb() -> int:
    """This machine's memory in MB (a very large number where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    except (ValueError, OSError):
        return 1 << 40


def _within(task: Any, settings: dict[str, Any]) -> None:
    """TaskError naming the first setting that gives the container more than its task allows."""
    def refuse(problem: str) -> None:
        raise TaskError(task.instance_id, "sandbox", problem)

    network = str(settings["network"])
    if network != "none" and not task.allow_internet:
        refuse(f"sandbox.network={network}: the task allows no internet (allow_internet = false); only none is possible")
    if network in WIDE_NETWORKS or network.startswith("container:"):
        refuse(f"sandbox.network={network}: a container task gets a network of its own (bridge or a named network) "
               "or none")
    if "ALL" not in [str(c).upper() for c in settings["cap_drop"]]:
        refuse("sandbox.cap_drop must include ALL for a container task: capabilities are given back from its set "
               f"only ({', '.join(task.capabilities)})")
    extra = [c for c in settings["cap_add"] if str(c).upper().removeprefix("CAP_") not in task.capabilities]
    if extra:
        refuse(f"sandbox.cap_add: {', '.join(map(str, extra))} is beyond what a container task may hold "
               f"({', '.join(task.capabilities)})")
    if not settings["no_new_privileges"]:
        refuse("sandbox.no_new_privileges=false: a container task keeps no-new-privileges")
