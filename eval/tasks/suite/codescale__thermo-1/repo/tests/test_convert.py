import pytest

from thermo.convert import convert


def test_celsius_to_fahrenheit():
    assert convert(100, "C", "F") == pytest.approx(212)


def test_fahrenheit_to_celsius():
    assert convert(-40, "F", "C") == pytest.approx(-40)


def test_same_scale_is_identity():
    assert convert(12.5, "C", "celsius") == 12.5


def test_unknown_scale():
    with pytest.raises(KeyError):
        convert(1, "C", "R")


def test_below_absolute_zero_rejected():
    with pytest.raises(ValueError):
        convert(-300, "C", "F")
