"""Cache keys for function calls."""


def make_key(args, kwargs):
    """A hashable key for a call with `args` and `kwargs`; TypeError when an argument is unhashable."""
    key = (tuple(args), frozenset(kwargs))
    hash(key)
    return key
