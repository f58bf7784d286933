"""Every command's --help ends with examples that parse as that command's arguments; every command takes -v and -q;
shell completion is on."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from codescale.eval.cli.main import app

ROOT = typer.main.get_command(app)


def is_group(command) -> bool:
    return hasattr(command, "commands")


def commands(group=ROOT, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    """(names from the root, command) of the root, every group and every command."""
    found = [(path, group)]
    for name, sub in sorted(group.commands.items()):
        found += commands(sub, (*path, name)) if is_group(sub) else [((*path, name), sub)]
    return found


def example_lines(command) -> list[str]:
    return [line.strip() for line in (command.epilog or "").splitlines() if line.strip().startswith("codescale")]


def parse(words: list[str]):
    """(the command, its context): the words after `codescale` parsed as the CLI parses them; nothing runs."""
    command, used = ROOT, 0
    while is_group(command):
        command, used = command.commands[words[used]], used + 1
    return command, command.make_context(words[used - 1], words[used:])


@pytest.mark.parametrize("path,command", commands(), ids=lambda x: " ".join(x) if isinstance(x, tuple) else "")
def test_help_ends_with_examples_that_parse(path, command, tmp_path, monkeypatch):
    examples = example_lines(command)
    assert 1 <= len(examples) <= 2, f"codescale {' '.join(path)}: {command.epilog!r}"
    monkeypatch.chdir(tmp_path)
    for example in examples:
        words = shlex.split(example)[1:]
        assert words[:len(path)] == list(path), example
        for word in words:  # the run directories an example reads exist, as they would for the user
            if word.startswith("runs/") and "." not in Path(word).name:
                (tmp_path / word).mkdir(parents=True, exist_ok=True)
        parsed, context = parse(words)
        assert parsed is command or is_group(command), example
        assert context.params  # the options it parsed
    help_text = subprocess.run([sys.executable, "-m", "codescale.eval.cli", *path, "--help"], capture_output=True,
                               text=True, env={**os.environ, "COLUMNS": "240"}, timeout=60).stdout
    assert help_text.rstrip().splitlines()[-1].strip() == examples[-1]  # the help ends with them


@pytest.mark.parametrize("path,command", [c for c in commands() if not is_group(c[1])],
                         ids=lambda x: " ".join(x) if isinstance(x, tuple) else "")
def test_every_command_takes_verbose_and_quiet(path, command):
    options = {opt for param in command.params for opt in param.opts}
    assert {"-v", "--verbose", "-q", "--quiet"} <= options


def test_shell_completion_completes_command_names():
    script = Path(sys.executable).parent / "codescale"
    if not script.is_file():
        pytest.skip("the codescale script is not installed beside this interpreter")
    done = subprocess.run([str(script)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "_CODESCALE_COMPLETE": "complete_bash", "COMP_WORDS": "codescale ev",
                               "COMP_CWORD": "1"})
    assert done.stdout.split() == ["evaluate"], done.stderr
    options = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "--install-completion" in options and "--show-completion" in options
