import pytest

from unitconv import IncompatibleUnits, convert


def test_length():
    assert convert(5, "km", "mi") == pytest.approx(3.10686, rel=1e-5)


def test_area():
    assert convert(2, "m^2", "cm^2") == pytest.approx(20000)


def test_incompatible_units():
    with pytest.raises(IncompatibleUnits):
        convert(1, "km/h", "kg")


def test_unknown_unit():
    with pytest.raises(KeyError):
        convert(1, "furlong", "m")
