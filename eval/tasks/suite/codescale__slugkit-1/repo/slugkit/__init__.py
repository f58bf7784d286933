from slugkit.slugify import slugify
from slugkit.unique import unique_slug

__all__ = ["slugify", "unique_slug"]
