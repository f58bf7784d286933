from tabular.writer import write_rows


def test_plain_cells():
    assert write_rows([["a", "b"], ["1", 2]]) == "a,b\n1,2\n"


def test_empty_cells():
    assert write_rows([["", None, "x"]]) == ",,x\n"
