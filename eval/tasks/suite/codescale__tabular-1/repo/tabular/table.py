"""A table: a header and rows of string cells."""

from tabular.dialect import DEFAULT
from tabular.reader import read_rows
from tabular.writer import write_rows


class Table:
    def __init__(self, header, rows=()):
        self.header = list(header)
        self.rows = [list(row) for row in rows]
        for number, row in enumerate(self.rows, 1):
            if len(row) != len(self.header):
                raise ValueError(f"row {number} has {len(row)} cells, the header has {len(self.header)}")

    @classmethod
    def from_text(cls, text, dialect=DEFAULT):
        records = read_rows(text, dialect)
        if not records:
            raise ValueError("no header")
        return cls(records[0], records[1:])

    def to_text(self, dialect=DEFAULT):
        return write_rows([self.header, *self.rows], dialect)

    def select(self, *columns):
        indexes = [self.header.index(column) for column in columns]
        return Table(columns, [[row[i] for i in indexes] for row in self.rows])

    def __eq__(self, other):
        return isinstance(other, Table) and (self.header, self.rows) == (other.header, other.rows)

    def __repr__(self):
        return f"Table({self.header!r}, {self.rows!r})"
