"""Word statistics for free text."""

from textstats.counter import count_words, top_words
from textstats.report import summary
from textstats.tokenize import tokenize

__all__ = ["count_words", "summary", "tokenize", "top_words"]
__version__ = "0.3.1"
