from memo import memoize


def counted():
    calls = []

    def function(*args, **kwargs):
        calls.append((args, kwargs))
        return len(calls)

    return function, calls


def test_caches_calls():
    function, calls = counted()
    cached = memoize()(function)
    assert cached(1) == cached(1) == 1
    assert len(calls) == 1


def test_keyword_order_does_not_matter():
    function, calls = counted()
    cached = memoize()(function)
    cached(a=1, b=2)
    cached(b=2, a=1)
    assert len(calls) == 1


def test_unhashable_arguments_bypass_cache():
    function, calls = counted()
    cached = memoize()(function)
    cached([1, 2])
    cached([1, 2])
    assert len(calls) == 2


def test_cache_clear():
    function, calls = counted()
    cached = memoize()(function)
    cached(1)
    cached.cache_clear()
    cached(1)
    assert len(calls) == 2
