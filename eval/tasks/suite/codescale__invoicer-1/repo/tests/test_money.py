import pytest

from invoicer.money import Money


def test_parse_whole_and_simple_amounts():
    assert Money.parse("12") == Money(1200)
    assert Money.parse("12.5") == Money(1250)
    assert Money.parse(" 7.25 ") == Money(725)
    assert Money.parse("1,234.00") == Money(123400)


def test_parse_rejects_garbage():
    for text in ["", "abc", "1.234", "12.5.0"]:
        with pytest.raises(ValueError):
            Money.parse(text)


def test_str():
    assert str(Money(5)) == "0.05"
    assert str(Money(-1999)) == "-19.99"


def test_arithmetic():
    assert Money(150) + Money(50) - Money(25) == Money(175)
    assert Money(1999) * 3 == Money(5997)


def test_percent_rounds_half_up():
    assert Money(1250).percent(20) == Money(250)
    assert Money(1).percent(50) == Money(1)
    assert Money(-1).percent(50) == Money(-1)
