"""Per-request controls: LiteLLM's `cache` object and Cache-Control headers."""

from __future__ import annotations

from typing import Any

import pytest

from rin.cache import CacheControl, parse_controls
from rin.errors import InvalidRequest


def controls(cache: Any = None, header: str | None = None, default_on: bool = True) -> CacheControl:
    body: dict[str, Any] = {"model": "m", "messages": []}
    if cache is not None:
        body["cache"] = cache
    return parse_controls(body, header, default_on)


def test_no_controls_read_and_write_with_the_configured_ttl() -> None:
    assert controls() == CacheControl(read=True, write=True, ttl=None, max_age=None, namespace=None)


@pytest.mark.parametrize(("cache", "expected"), [
    ({"no-cache": True}, CacheControl(read=False, write=True)),
    ({"no-store": True}, CacheControl(read=True, write=False)),
    ({"no-cache": True, "no-store": True}, CacheControl(read=False, write=False)),
    ({"no-cache": False}, CacheControl()),
    ({"ttl": 60}, CacheControl(ttl=60.0)),
    ({"ttl": 0.5}, CacheControl(ttl=0.5)),
    ({"s-maxage": 30}, CacheControl(max_age=30.0)),
    ({"s-maxage": 0}, CacheControl(read=False, max_age=0.0)),
    ({"namespace": "team-a.v2"}, CacheControl(namespace="team-a.v2")),
])
def test_body_controls(cache: dict[str, Any], expected: CacheControl) -> None:
    assert controls(cache) == expected


@pytest.mark.parametrize(("header", "expected"), [
    ("no-cache", CacheControl(read=False)),
    ("No-Store", CacheControl(write=False)),
    ("no-cache, no-store", CacheControl(read=False, write=False)),
    ("max-age=120", CacheControl(max_age=120.0)),
    ('max-age="120"', CacheControl(max_age=120.0)),
    ("max-age=0", CacheControl(read=False, max_age=0.0)),
    ("private, must-revalidate", CacheControl()),  # unknown directives are ignored, as HTTP says
])
def test_header_controls(header: str, expected: CacheControl) -> None:
    assert controls(header=header) == expected


def test_the_strictest_of_body_and_header_wins() -> None:
    got = controls({"no-store": True, "s-maxage": 100, "ttl": 30}, "no-cache, max-age=20")
    assert got == CacheControl(read=False, write=False, ttl=30.0, max_age=20.0)
    assert controls({"s-maxage": 10}, "max-age=20").max_age == 10.0


def test_default_off_mode_caches_only_requests_that_opt_in() -> None:
    assert controls(default_on=False) == CacheControl(read=False, write=False)
    assert controls({"use-cache": True}, default_on=False) == CacheControl()
    assert controls({"use-cache": True, "no-store": True}, default_on=False) == CacheControl(write=False)


@pytest.mark.parametrize(("cache", "param"), [
    ("yes", "cache"),
    ([{"no-cache": True}], "cache"),
    ({"no-cache": "true"}, "cache.no-cache"),
    ({"no-store": 1}, "cache.no-store"),
    ({"use-cache": None}, "cache.use-cache"),
    ({"ttl": -5}, "cache.ttl"),
    ({"ttl": 0}, "cache.ttl"),
    ({"ttl": "60"}, "cache.ttl"),
    ({"ttl": True}, "cache.ttl"),
    ({"ttl": 10**12}, "cache.ttl"),
    ({"s-maxage": -1}, "cache.s-maxage"),
    ({"namespace": "a:b"}, "cache.namespace"),
    ({"namespace": ""}, "cache.namespace"),
    ({"namespace": 5}, "cache.namespace"),
])
def test_invalid_body_values_are_400s_naming_the_field(cache: Any, param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        controls(cache)
    assert info.value.param == param
    assert info.value.status == 400
    assert param in info.value.message


def test_an_unknown_control_is_refused_with_the_nearest_name() -> None:
    with pytest.raises(InvalidRequest) as info:
        controls({"no_cache": True})
    assert info.value.param == "cache.no_cache"
    assert "'no-cache'" in info.value.message


@pytest.mark.parametrize("header", ["max-age=soon", "max-age=-1", "max-age=", "max-age=1.5", "max-age=²"])
def test_an_invalid_max_age_header_is_a_400_naming_the_header(header: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        controls(header=header)
    assert info.value.param == "Cache-Control"
