"""Text -> rows of cells."""

from tabular.dialect import DEFAULT


def read_rows(text, dialect=DEFAULT):
    """The records of `text` as lists of strings; blank lines are skipped."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        rows.append(line.split(dialect.delimiter))
    return rows
