from __future__ import annotations

import hashlib

import pytest
from graphql import GraphQLError, specified_rules, validate
from graphql import build_schema as graphql_build_schema
from graphql import parse as graphql_parse

from api.schema import SCHEMA_FILE
from api.schema.documents import TOKEN_COST, DocumentCache, OneOperationWithoutName, StringLiterals


def document(index: int, padding: int = 0) -> str:
    return "#" * padding + f"\nquery Q{index} {{ viewer {{ name }} }}"


def test_documents_are_kept_by_the_hash_of_their_text() -> None:
    cache = DocumentCache(max_bytes=1 << 20)
    key, parsed = cache.parse(document(1), {"max_tokens": 100})
    assert key != hashlib.sha256(document(1).encode()).hexdigest()  # the options are part of the key
    assert len(key) == 64
    again = cache.parse(document(1), {"max_tokens": 100})
    assert again == (key, parsed)  # the same object: parsed once
    other_limits = cache.parse(document(1), {"max_tokens": 50})
    assert other_limits[0] != key and len(cache) == 2
    # What the cache holds is its keys and documents; no text is a key.
    assert all(len(k) == 64 for k in cache._entries)


def test_the_cache_is_bounded_in_bytes_and_forgets_the_least_recently_used() -> None:
    cache = DocumentCache(max_bytes=64 << 10)
    for index in range(200):
        cache.parse(document(index, padding=2000), {})
        assert cache.bytes <= cache.max_bytes
    assert 0 < len(cache) < 200
    kept = len(cache)
    cache.parse(document(199, padding=2000), {})  # the newest is still there
    assert len(cache) == kept
    assert cache.bytes == sum(entry.cost for entry in cache._entries.values())


def test_a_document_costing_more_than_an_eighth_is_never_kept() -> None:
    cache = DocumentCache(max_bytes=64 << 10)
    cache.parse(document(1, padding=(64 << 10) // 8), {})
    assert (len(cache), cache.bytes) == (0, 0)


def test_a_document_costs_its_text_and_its_tokens() -> None:
    cache = DocumentCache(max_bytes=1 << 20)
    text = document(1, padding=100)
    cache.parse(text, {})
    # SOF, the comment, query, Q1, {, viewer, {, name, }, }, EOF
    assert cache.bytes == len(text) + 11 * TOKEN_COST


def test_a_document_that_does_not_parse_is_not_kept() -> None:
    cache = DocumentCache(max_bytes=1 << 20)
    with pytest.raises(GraphQLError):
        cache.parse("{ viewer { ", {})
    assert len(cache) == 0


def test_validation_is_kept_per_document_and_rules() -> None:
    cache = DocumentCache(max_bytes=1 << 20)
    key, parsed = cache.parse("{ viewer { name } }", {})
    rules = tuple(specified_rules)
    assert cache.validation(key, parsed, rules) is None
    cache.keep_validation(key, parsed, rules, [])
    assert cache.validation(key, parsed, rules) == []
    assert cache.validation(key, parsed, (*rules, StringLiterals)) is None
    _, other = cache.parse("{ viewer { name } }", {"max_tokens": 10})  # another key: kept apart
    assert cache.validation(key, other, rules) is None


def test_clear_forgets_every_document_and_its_validation() -> None:
    cache = DocumentCache(max_bytes=1 << 20)
    key, parsed = cache.parse("{ viewer { name } }", {})
    cache.keep_validation(key, parsed, tuple(specified_rules), [])
    cache.clear()
    assert (len(cache), cache.bytes) == (0, 0)
    assert cache.validation(key, parsed, tuple(specified_rules)) is None
    again_key, again = cache.parse("{ viewer { name } }", {})
    assert again_key == key and again is not parsed  # parsed anew
    assert cache.bytes == len("{ viewer { name } }") + 8 * TOKEN_COST  # counted from zero again


def test_string_literals_are_checked_as_text() -> None:
    schema = graphql_build_schema(SCHEMA_FILE.read_text())
    literal = graphql_parse('{ corporations(query: "a\\u0000") { edges { cursor } } }')
    [refused] = validate(schema, literal, [StringLiterals])
    assert refused.message == "The text of a string in the document holds a control character."
    assert validate(schema, graphql_parse('{ corporations(query: "a") { edges { cursor } } }'), [StringLiterals]) == []


def test_several_operations_need_a_name() -> None:
    schema = graphql_build_schema(SCHEMA_FILE.read_text())
    [problem] = validate(schema, graphql_parse(document(1) + document(2)), [OneOperationWithoutName])
    assert problem.extensions == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert validate(schema, graphql_parse(document(1)), [OneOperationWithoutName]) == []
