"""Slugs that do not collide with existing ones."""

from slugkit.slugify import slugify


def unique_slug(title, taken, separator="-"):
    """The slug of `title`, with `-2`, `-3`, ... appended until it is not in `taken`."""
    base = slugify(title, separator=separator)
    if base not in taken:
        return base
    n = 2
    while f"{base}{separator}{n}" in taken:
        n += 1
    return f"{base}{separator}{n}"
