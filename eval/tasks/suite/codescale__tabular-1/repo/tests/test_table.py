import pytest

from tabular import Table


def test_select_columns():
    table = Table(["a", "b", "c"], [["1", "2", "3"]])
    assert table.select("c", "a") == Table(["c", "a"], [["3", "1"]])


def test_ragged_rows_rejected():
    with pytest.raises(ValueError, match="row 1"):
        Table(["a", "b"], [["1"]])


def test_roundtrip_plain():
    table = Table(["name", "age"], [["Ada", "36"], ["Alan", "41"]])
    assert Table.from_text(table.to_text()) == table
