from memo.cache import LRUCache


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_get_and_set():
    cache = LRUCache()
    cache.set("a", 1)
    assert cache.get("a") == 1
    assert cache.get("b", None) is None


def test_lru_evicts_least_recently_used():
    cache = LRUCache(maxsize=2)
    cache.set("a", 1)
    cache.set("b", 2)
    cache.get("a")
    cache.set("c", 3)
    assert "a" in cache and "c" in cache and "b" not in cache


def test_expired_entry_is_a_miss():
    clock = FakeClock()
    cache = LRUCache(ttl=10, clock=clock)
    cache.set("a", 1)
    clock.now = 10
    assert cache.get("a", None) is None
    assert cache.stats.expirations == 1


def test_stats():
    cache = LRUCache(maxsize=1)
    cache.set("a", 1)
    cache.get("a")
    cache.get("x", None)
    cache.set("b", 2)
    assert (cache.stats.hits, cache.stats.misses, cache.stats.evictions) == (1, 1, 1)
