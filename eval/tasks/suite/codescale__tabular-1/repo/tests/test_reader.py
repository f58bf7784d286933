from tabular.dialect import Dialect
from tabular.reader import read_rows


def test_plain_lines():
    assert read_rows("a,b\n1,2\n") == [["a", "b"], ["1", "2"]]


def test_blank_lines_skipped():
    assert read_rows("a,b\n\n1,2\n\n") == [["a", "b"], ["1", "2"]]


def test_custom_delimiter():
    assert read_rows("a;b\n1;2", Dialect(delimiter=";")) == [["a", "b"], ["1", "2"]]
