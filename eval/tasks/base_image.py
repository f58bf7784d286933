"""The local base image task images are built on where no registry answers (codescale/base:bookworm by default):
made once per machine by base_image.sh, shipped with the package, the script CI and the test suite run too.

Where a registry answers it is python:3.11-slim with git, patch, procps and pytest added; else a minimal Debian
bookworm made by debootstrap from the Debian mirror this machine's apt uses (as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from codescale.eval.tasks.images import LOCAL_BASE_IMAGE, default_base_image

SCRIPT = Path(__file__).with_name("base_image.sh")


class BaseImageError(Exception):
    """The base image could not be made; the message says why (the script's last lines)."""


def make_base_image(tag: str = LOCAL_BASE_IMAGE, say: Callable[[str], None] = print) -> None:
    """Make `tag` in the Docker engine unless it is there (the script's progress lines go to `say`); BaseImageError
    when it cannot be made."""
    if not shutil.which("docker"):
        raise BaseImageError(f"making the base image {tag} needs the `docker` command, which is not on PATH")
    process = subprocess.Popen(["bash", str(SCRIPT)], env={**os.environ, "CODESCALE_BASE_IMAGE": tag},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip())
        say(lines[-1])
    if process.wait():
        raise BaseImageError(f"the base image {tag} could not be made: {' / '.join(lines[-3:]) or 'no output'}")
    default_base_image.cache_clear()
