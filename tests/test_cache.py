"""nbinterp.core.cache: an LRU cache bounded by the bytes of the arrays it holds."""

import threading

import numpy as np
import pytest

from nbinterp.core.cache import ByteBudgetCache


def test_evicts_least_recently_used_within_the_budget():
    cache = ByteBudgetCache(300)
    a, b, c = (np.zeros(100, np.uint8) for _ in range(3))
    for key, value in (("a", a), ("b", b), ("c", c)):
        assert cache.put(key, value)
    assert cache.get("a") is a  # a is now the most recent
    cache.put("d", np.zeros(100, np.uint8))
    assert "b" not in cache and "a" in cache and cache.nbytes == 300 and cache.evictions == 1
    assert not cache.put("huge", np.zeros(301, np.uint8)) and "huge" not in cache
    assert cache.get("b", "missing") == "missing" and cache.misses == 1


def test_tuples_count_every_array_and_replacing_a_key_frees_its_bytes():
    cache = ByteBudgetCache(1000)
    cache.put("pair", (np.zeros(100, np.uint8), np.zeros(50, np.uint8)))
    assert cache.nbytes == 150
    cache.put("pair", np.zeros(10, np.uint8))
    assert cache.nbytes == 10
    cache.discard("pair")
    assert cache.nbytes == 0 and len(cache) == 0
    with pytest.raises(ValueError):
        ByteBudgetCache(-1)


def test_concurrent_use_keeps_the_byte_count_exact():
    cache = ByteBudgetCache(64 * 10)

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(300):
            key = int(rng.integers(0, 30))
            if rng.random() < 0.5:
                cache.put(key, np.zeros(64, np.uint8))
            else:
                cache.get(key)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.nbytes == 64 * len(cache) <= cache.max_bytes
