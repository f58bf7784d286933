import pytest

from unitconv.parse import parse_unit


def test_simple_unit():
    assert parse_unit("km") == (1000.0, {"L": 1})


def test_power():
    factor, dims = parse_unit("cm^3")
    assert factor == pytest.approx(1e-6)
    assert dims == {"L": 3}


def test_compound_dimension():
    assert parse_unit("kg*m/s^2")[1] == {"M": 1, "L": 1, "T": -2}
