"""Which requests share an answer: isolation between callers, and every output-affecting field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rin.cache import cache_key, cache_scope

BODY: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    "temperature": 0.2,
}
SCOPE = cache_scope("hash-of-key-a", None)


def key(body: dict[str, Any], scope: str = SCOPE, group: str = "gpt-4o", namespace: str | None = None) -> str:
    return cache_key(scope, group, body, namespace)


def with_(field: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(BODY)
    body[field] = value
    return body


def test_the_same_request_from_the_same_caller_shares_one_key() -> None:
    assert key(BODY) == key(copy.deepcopy(BODY))
    assert key(BODY).startswith("rin:cache:default:")
    assert len(key(BODY).rsplit(":", 1)[1]) == 64


def test_two_users_of_one_virtual_key_never_share_entries() -> None:
    alice, bob = cache_scope("hash-of-key-a", "alice@example.com"), cache_scope("hash-of-key-a", "bob@example.com")
    assert key(BODY, alice) != key(BODY, bob)
    assert key(BODY, alice) != key(BODY, cache_scope("hash-of-key-a", None))


def test_two_virtual_keys_never_share_entries() -> None:
    assert key(BODY, cache_scope("hash-a", "alice")) != key(BODY, cache_scope("hash-b", "alice"))
    assert key(BODY, cache_scope(None, None)) != key(BODY, cache_scope("hash-a", None))


def test_scope_parts_cannot_be_shifted_into_each_other() -> None:
    # a naive "key|user" join would make these two scopes equal
    assert cache_scope("a|b", "c") != cache_scope("a", "b|c")


def test_the_model_group_is_in_the_key() -> None:
    assert key(BODY, group="gpt-4o") != key(BODY, group="claude-3-5-sonnet")


def test_the_namespace_prefixes_the_key() -> None:
    assert key(BODY, namespace="team-a").startswith("rin:cache:team-a:")
    assert key(BODY, namespace="team-a").rsplit(":", 1)[1] == key(BODY, namespace="team-b").rsplit(":", 1)[1]


OUTPUT_AFFECTING = [
    ("messages", [{"role": "user", "content": "Hi!"}]),
    ("tools", [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]),
    ("tool_choice", "required"),
    ("functions", [{"name": "f", "parameters": {}}]),
    ("function_call", "auto"),
    ("response_format", {"type": "json_object"}),
    ("seed", 7),
    ("n", 2),
    ("stop", ["\n"]),
    ("temperature", 0.3),
    ("top_p", 0.5),
    ("max_tokens", 5),
    ("max_completion_tokens", 5),
    ("presence_penalty", 0.5),
    ("frequency_penalty", 0.5),
    ("logit_bias", {"50256": -100}),
    ("logprobs", True),
    ("top_logprobs", 3),
    ("reasoning_effort", "high"),
    ("thinking", {"type": "enabled", "budget_tokens": 1024}),
    ("modalities", ["text", "audio"]),
    ("audio", {"voice": "alloy", "format": "wav"}),
    ("prediction", {"type": "content", "content": "x"}),
    ("parallel_tool_calls", False),
    ("stream", True),
    ("service_tier", "flex"),
    ("drop_params", True),
    ("extra_body", {"top_k": 5}),
    ("verbosity", "low"),  # a parameter RIN has never heard of is in the key
]


@pytest.mark.parametrize(("field", "value"), OUTPUT_AFFECTING, ids=[f for f, _ in OUTPUT_AFFECTING])
def test_every_output_affecting_field_changes_the_key(field: str, value: Any) -> None:
    assert key(with_(field, value)) != key(BODY)


def test_changing_one_nested_value_changes_the_key() -> None:
    tools: list[dict[str, Any]] = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    other = copy.deepcopy(tools)
    other[0]["function"]["parameters"]["required"] = ["x"]
    assert key(with_("tools", tools)) != key(with_("tools", other))


NEUTRAL = [
    ("user", "someone"),
    ("metadata", {"trace": "abc"}),
    ("cache", {"ttl": 60}),
    ("stream_options", {"include_usage": True}),
    ("request_id", "req-1"),
    ("store", True),
    ("timeout", 30),
    ("num_retries", 4),
    ("fallbacks", ["claude-3-5-sonnet"]),
    ("model", "an-alias-of-the-same-group"),
]


@pytest.mark.parametrize(("field", "value"), NEUTRAL, ids=[f for f, _ in NEUTRAL])
def test_neutral_fields_do_not_change_the_key(field: str, value: Any) -> None:
    assert key(with_(field, value)) == key(BODY)


def test_stream_false_is_the_same_as_no_stream() -> None:
    assert key(with_("stream", False)) == key(BODY)


def test_field_order_does_not_matter_at_any_depth() -> None:
    a = {"messages": [{"role": "user", "content": "Hi"}], "response_format": {"type": "json_schema",
         "json_schema": {"name": "x", "schema": {"a": 1, "b": 2}}}, "model": "m"}
    b = {"model": "m", "response_format": {"json_schema": {"schema": {"b": 2, "a": 1}, "name": "x"},
         "type": "json_schema"}, "messages": [{"content": "Hi", "role": "user"}]}
    assert key(a) == key(b)


def test_message_order_does_matter() -> None:
    messages: list[dict[str, str]] = BODY["messages"]
    reversed_messages = with_("messages", list(reversed(messages)))
    assert key(reversed_messages) != key(BODY)
