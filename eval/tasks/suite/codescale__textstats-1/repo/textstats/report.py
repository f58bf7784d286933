"""A plain-text summary of a text."""

from textstats.counter import count_words, top_words
from textstats.tokenize import tokenize


def summary(text, n=5):
    """Lines describing `text`: total words, distinct words, and the top `n`."""
    words = tokenize(text)
    distinct = count_words(text, stopwords=frozenset())
    lines = [f"words: {len(words)}", f"distinct: {len(distinct)}"]
    for word, count in top_words(text, n):
        lines.append(f"  {word:<20} {count}")
    return "\n".join(lines)
