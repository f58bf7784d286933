"""Slugs: lower-case ASCII words joined by a separator."""

import re

from slugkit.transliterate import to_ascii

_NOT_WORD = re.compile(r"[^a-z0-9]+")


def slugify(title, separator="-", max_length=None):
    """A URL slug for `title`. With `max_length`, the slug is cut at a word boundary."""
    text = to_ascii(title).lower()
    slug = _NOT_WORD.sub(separator, text)
    if max_length is not None and len(slug) > max_length:
        cut = slug[: max_length + 1]
        slug = cut.rsplit(separator, 1)[0] if separator in cut else slug[:max_length]
    return slug
