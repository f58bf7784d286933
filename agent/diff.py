"""A unified diff read once for every layer: the files a patch touches, with lines added and removed.

Parsed by `unidiff`, which reads git's headers (new, deleted, renamed files) and counts a removed line that
starts with `--` as a removed line, not as a file header."""

from __future__ import annotations

from pydantic import BaseModel


class FileChange(BaseModel):
    path: str
    """The file's path in the repository after the patch (before it, for a deleted file)."""
    source: str = ""
    """Its path before the patch ('' for a created file)."""
    added: int = 0
    removed: int = 0
    created: bool = False
    deleted: bool = False


def _strip(name: str) -> str:
    return "" if name == "/dev/null" else name.removeprefix("a/").removeprefix("b/")


def file_changes(patch: str) -> list[FileChange]:
    """The files of a unified diff in order; [] for an empty patch or one that is not a unified diff."""
    from unidiff import PatchSet
    from unidiff.errors import UnidiffParseError

    if not patch.strip():
        return []
    try:
        files = PatchSet(patch)
    except UnidiffParseError:
        return []
    return [
        FileChange(path=_strip(f.target_file) or _strip(f.source_file), source=_strip(f.source_file),
                   added=f.added, removed=f.removed, created=f.is_added_file, deleted=f.is_removed_file)
        for f in files
    ]


def diff_stat(patch: str) -> str:
    """`path | +added -removed` per file of a unified diff."""
    return "\n".join(f"{f.path} | +{f.added} -{f.removed}" for f in file_changes(patch))
