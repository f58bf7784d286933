"""Rows of cells -> text."""

from tabular.dialect import DEFAULT


def format_row(cells, dialect=DEFAULT):
    return dialect.delimiter.join("" if cell is None else str(cell) for cell in cells)


def write_rows(rows, dialect=DEFAULT):
    """`rows` as text, one record per line, ending with a line end."""
    return "".join(format_row(row, dialect) + dialect.line_end for row in rows)
