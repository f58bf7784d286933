import pytest

from memo.keys import make_key


def test_positional_key():
    assert make_key((1, "a"), {}) == make_key([1, "a"], {})
    assert make_key((1,), {}) != make_key((2,), {})


def test_unhashable_raises():
    with pytest.raises(TypeError):
        make_key(([1, 2],), {})
