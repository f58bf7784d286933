from textstats.tokenize import tokenize


def test_lowercases():
    assert tokenize("Hello World") == ["hello", "world"]


def test_hyphenated_words():
    assert tokenize("a state-of-the-art tool") == ["a", "state-of-the-art", "tool"]


def test_numbers_are_kept():
    assert tokenize("version 2 of 10") == ["version", "2", "of", "10"]


def test_quotes_are_not_part_of_words():
    assert tokenize("'quoted' words") == ["quoted", "words"]
