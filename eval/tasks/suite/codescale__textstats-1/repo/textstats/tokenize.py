"""Split text into lower-case word tokens."""

import re

# A word is a run of letters or digits, optionally joined by single hyphens ("state-of-the-art").
WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def tokenize(text):
    """Return the words of `text`, lower-cased, in order."""
    text = text.lower().replace("\u2019", "'")
    return WORD.findall(text)
