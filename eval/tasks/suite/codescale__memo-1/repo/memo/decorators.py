"""@memoize"""

import functools
import time

from memo.cache import MISSING, LRUCache
from memo.keys import make_key


def memoize(maxsize=128, ttl=None, clock=time.monotonic):
    """Cache the results of a function by its arguments (LRU bound `maxsize`, expiry after `ttl` seconds)."""

    def decorate(function):
        cache = LRUCache(maxsize=maxsize, ttl=ttl, clock=clock)

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            try:
                key = make_key(args, kwargs)
            except TypeError:  # unhashable arguments: just call
                return function(*args, **kwargs)
            value = cache.get(key, MISSING)
            if value is MISSING:
                value = function(*args, **kwargs)
                cache.set(key, value)
            return value

        wrapper.cache = cache
        wrapper.cache_clear = cache.clear
        return wrapper

    return decorate
