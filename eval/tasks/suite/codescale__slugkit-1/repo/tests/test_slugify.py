from slugkit.slugify import slugify


def test_basic():
    assert slugify("Hello World") == "hello-world"


def test_collapses_runs_of_separators():
    assert slugify("a  --  b") == "a-b"


def test_max_length_cuts_at_word():
    assert slugify("the quick brown fox", max_length=12) == "the-quick"


def test_empty_title():
    assert slugify("") == ""
