from textstats.counter import count_words, top_words


def test_count_words_skips_stopwords():
    assert count_words("the cat and the hat") == {"cat": 1, "hat": 1}


def test_top_words_orders_by_count_then_word():
    assert top_words("pear apple pear fig apple pear") == [("pear", 3), ("apple", 2), ("fig", 1)]


def test_top_words_limit():
    assert top_words("a b c d e f g", 2, stopwords=frozenset()) == [("a", 1), ("b", 1)]
