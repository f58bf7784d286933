"""Counting words."""

from collections import Counter

from textstats.tokenize import tokenize

STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is no not of on or so such that the their then there "
    "these they this to was will with i you he she we".split()
)


def count_words(text, stopwords=STOPWORDS):
    """A Counter of the words of `text`, leaving out `stopwords`."""
    return Counter(word for word in tokenize(text) if word not in stopwords)


def top_words(text, n=10, stopwords=STOPWORDS):
    """The `n` most common words as (word, count), most common first, ties in alphabetical order."""
    counts = count_words(text, stopwords)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:n]
