"""The cache's public names: what the chat handler and the runtime may import."""

import rin.cache


def test_exported_members() -> None:
    assert sorted(rin.cache.__all__) == [
        "CacheControl", "CacheKey", "CacheSettings", "CachedAnswer", "LocalCache", "RedisCache",
        "ResponseCache", "StreamRecorder", "build_cache", "cache_key", "cache_scope", "cache_settings",
        "cacheable", "parse_controls",
    ]
    assert all(hasattr(rin.cache, name) for name in rin.cache.__all__)
