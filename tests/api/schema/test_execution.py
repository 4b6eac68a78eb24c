"""The executor's direct leaf reads give graphql-core's results exactly, errors included; collected fields
are reused across requests only for documents without directives; the direct path's executor gives
graphql-core's results for every kind of field, type and error."""

from __future__ import annotations

from enum import Enum
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry
from graphql import ExecutionResult, GraphQLNonNull, GraphQLString, execute, get_operation_ast, parse
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api.schema import execution
from api.schema.execution import (
    DirectCall,
    DirectExecutor,
    LeafRead,
    PortalExecutionContext,
    collections_of,
    leaf_read,
    plan_field,
)


@strawberry.enum
class Colour(Enum):
    RED = "red"


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Item(Named):
    note: str | None
    colour: Colour
    count: int

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    async def later(self, info: strawberry.Info) -> str:
        return f"{self.name}:{info.field_name}:{info.path.as_list()}"

    @strawberry.field
    def rooted(self, root: Item) -> int:
        return root.count + 1


def item(**changes: Any) -> Item:
    values = {"name": "a", "note": None, "colour": Colour.RED, "count": 1, **changes}
    return Item(**values)


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item | None]:
        return [item(), item(name=None), item(colour="purple"), item(count="x"), item(note=ValueError("boom")),
                item(note=5)]

    @strawberry.field
    def first(self) -> Item:
        return item()

    @strawberry.field
    def required(self) -> Item:
        return item(name=None)

    @strawberry.field
    def broken(self) -> str | None:
        raise ValueError("nope")

    @strawberry.field
    def echo(self, text: str) -> str:
        return text

    @strawberry.field
    def missing(self) -> Item | None:
        bare = item()
        del bare.name
        return bare

    @strawberry.field
    def named(self) -> list[Named]:
        return [item(), Pet(name="rex", legs=4), item(name=None)]

    @strawberry.field
    def anything(self) -> list[Item | Pet | None]:
        return [Pet(name="tom", legs=ValueError("no legs")), item(), "not an object"]

    @strawberry.field
    def wrong(self) -> Item | None:
        return SimpleNamespace(name="not an item")  # type: ignore[return-value]

    @strawberry.field
    async def pets(self) -> list[Pet]:
        return [Pet(name="a", legs=4), Pet(name=None, legs=2)]


@strawberry.type
class Pet(Named):
    legs: int


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def rename(self, to: str) -> Item:
        renamed.append(to)
        return item(name=to)


renamed: list[str] = []


def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    return (strawberry.Schema(Query, Mutation, types=[Item]),
            strawberry.Schema(Query, Mutation, types=[Item], execution_context_class=PortalExecutionContext))


async def direct_outcome(schema: strawberry.Schema, document: str,
                         variables: dict[str, Any] | None = None) -> tuple[Any, list[dict[str, Any]]]:
    """What ``PortalSchema.execute_document`` runs: DirectExecutor on the parsed document."""
    parsed = parse(document)
    executor = DirectExecutor.for_operation(schema._schema, parsed, get_operation_ast(parsed), context_value=None,
                                            variable_values=variables, operation_extensions=None,
                                            is_awaitable=optimized_is_awaitable)
    if isinstance(executor, list):
        return None, [error.formatted for error in executor]
    assert executor is not None
    result = executor.execute_operation()
    if optimized_is_awaitable(result):
        result = await result
    return result.data, [error.formatted for error in result.errors or []]


def outcome(schema: strawberry.Schema, document: str) -> tuple[Any, list[dict[str, Any]]]:
    result = schema.execute_sync(document)
    return result.data, [error.formatted for error in result.errors or []]


async def async_outcome(schema: strawberry.Schema, document: str) -> tuple[Any, list[dict[str, Any]]]:
    result = await schema.execute(document)
    return result.data, [error.formatted for error in result.errors or []]


@pytest.mark.parametrize("document", [
    "{ items { name note colour count shout } }",
    "{ required { name } }",
    "{ missing { name note } }",
    "{ items { n: name n2: name c: colour } }",
    "{ first { shout later rooted } broken echo(text: \"hi\") }",
    "{ items { later rooted } required { later } }",
])
async def test_direct_reads_and_calls_match_graphql_core(document: str) -> None:
    plain, portal = schemas()
    assert await async_outcome(portal, document) == await async_outcome(plain, document)


DIRECT_DOCUMENTS = [
    "{ items { name note colour count shout } }",
    "{ required { name } }",
    "{ required { name } first { name } }",
    "{ missing { name note } }",
    "{ items { n: name n2: name c: colour } }",
    "{ first { shout later rooted } broken echo(text: \"hi\") }",
    "{ items { later rooted } required { later } }",
    "{ named { __typename name ... on Item { count } ... on Pet { legs } } }",
    "{ anything { __typename ... on Pet { name legs } ...I } } fragment I on Item { later colour }",
    "{ pets { name legs } }",
    "{ wrong { name } first { name } }",
    "{ first { ...F } again: first { count } } fragment F on Item { name count }",
    "query ($t: String!) { echo(text: $t) }",
    "mutation { one: rename(to: \"x\") { name } two: rename(to: \"y\") { later } }",
]


@pytest.mark.parametrize("document", DIRECT_DOCUMENTS)
async def test_the_direct_executor_gives_graphql_cores_results(document: str) -> None:
    plain, portal = schemas()
    variables = {"t": "hi"}
    renamed.clear()
    expected = await plain.execute(document, variable_values=variables)
    expected_renames = renamed[:]
    renamed.clear()
    assert await direct_outcome(portal, document, variables) == (
        expected.data, [error.formatted for error in expected.errors or []])
    assert renamed == expected_renames


async def test_the_direct_executor_runs_mutations_in_order_and_reports_variables_like_graphql_core() -> None:
    _, portal = schemas()
    renamed.clear()
    assert await direct_outcome(portal, "mutation { a: rename(to: \"1\") { name } b: rename(to: \"2\") { name } }") \
        == ({"a": {"name": "1"}, "b": {"name": "2"}}, [])
    assert renamed == ["1", "2"]
    assert await direct_outcome(portal, "query ($t: String!) { echo(text: $t) }", {"t": 5}) == (None, [
        {"message": "Variable '$t' has invalid value: String cannot represent a non string value: 5",
         "locations": [{"line": 1, "column": 8}]}])


def test_the_direct_executor_leaves_documents_with_directives_to_graphql_core() -> None:
    _, portal = schemas()
    parsed = parse("query ($x: Boolean!) { first { name @include(if: $x) } }")
    assert DirectExecutor.for_operation(portal._schema, parsed, get_operation_ast(parsed), context_value=None,
                                        variable_values={"x": True}, operation_extensions=None,
                                        is_awaitable=optimized_is_awaitable) is None


async def test_the_direct_executor_collects_the_root_fields_once(monkeypatch: pytest.MonkeyPatch) -> None:
    _, portal = schemas()
    calls: list[str] = []
    real = execution.collect_fields
    monkeypatch.setattr(execution, "collect_fields", lambda schema, fragments, variables, root_type, *rest: (
        calls.append(root_type.name) or real(schema, fragments, variables, root_type, *rest)))
    parsed = parse("{ first { name } }")
    for _ in range(3):
        executor = DirectExecutor.for_operation(portal._schema, parsed, get_operation_ast(parsed), context_value=None,
                                                variable_values=None, operation_extensions=None,
                                                is_awaitable=optimized_is_awaitable)
        assert executor.execute_operation() == ExecutionResult({"first": {"name": "a"}}, None)
    assert calls == ["Query"]


async def test_direct_calls_pass_what_strawberry_passes() -> None:
    _, portal = schemas()
    assert await async_outcome(portal, "{ first { later rooted } broken }") == (
        {"first": {"later": "a:later:['first', 'later']", "rooted": 2}, "broken": None},
        [{"message": "nope", "locations": [{"line": 1, "column": 26}], "path": ["broken"]}])


def test_only_plain_resolver_functions_are_called_directly() -> None:
    _, portal = schemas()
    core = portal._schema
    item_type = core.get_type("Item")
    assert [isinstance(plan_field(core, item_type, name), DirectCall) for name in ("shout", "later", "rooted")] \
        == [True, True, True]
    assert plan_field(core, core.query_type, "echo") is None  # arguments: strawberry converts them
    assert isinstance(plan_field(core, item_type, "name"), LeafRead)


def test_the_errors_are_graphql_cores() -> None:
    _, portal = schemas()
    data, errors = outcome(portal, "{ items { name note colour count } }")
    assert data["items"] == [{"name": "a", "note": None, "colour": "RED", "count": 1}, None, None, None,
                             {"name": "a", "note": None, "colour": "RED", "count": 1},
                             {"name": "a", "note": "5", "colour": "RED", "count": 1}]
    assert [(error["message"], error["path"]) for error in errors] == [
        ("Cannot return null for non-nullable field Item.name.", ["items", 1, "name"]),
        ("Enum 'Colour' cannot represent value: 'purple'", ["items", 2, "colour"]),
        ("Int cannot represent non-integer value: 'x'", ["items", 3, "count"]),
        ("boom", ["items", 4, "note"]),
    ]


def test_only_plain_leaf_fields_are_read_directly() -> None:
    _, portal = schemas()
    core = portal._schema
    item_type = core.get_type("Item")
    assert leaf_read(core, item_type, "name") == LeafRead("name", GraphQLString, item_type.fields["name"].type,
                                                          "Item.name")
    assert isinstance(leaf_read(core, item_type, "name").return_type, GraphQLNonNull)
    assert leaf_read(core, item_type, "note").return_type is GraphQLString
    assert leaf_read(core, item_type, "shout") is None  # a resolver
    assert leaf_read(core, core.query_type, "items") is None  # not a leaf
    assert leaf_read(core, item_type, "nope") is None


def test_leaf_fields_build_no_resolve_info(monkeypatch: pytest.MonkeyPatch) -> None:
    _, portal = schemas()
    built: list[str] = []
    real = PortalExecutionContext.build_resolve_info
    monkeypatch.setattr(PortalExecutionContext, "build_resolve_info",
                        lambda self, field, nodes, *rest: built.append(nodes[0].name.value) or real(
                            self, field, nodes, *rest))
    assert outcome(portal, "{ first { note colour count shout } }") == (
        {"first": {"note": None, "colour": "RED", "count": 1, "shout": "A"}}, [])
    assert built == ["first", "shout"]


def test_collected_fields_are_kept_for_a_document_without_directives(monkeypatch: pytest.MonkeyPatch) -> None:
    _, portal = schemas()
    collected: list[str] = []
    real = StrawberryGraphQLCoreExecutionContext.collect_subfields
    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "collect_subfields",
                        lambda self, type_, fields: collected.append(type_.name) or real(self, type_, fields))
    document = parse("{ first { ...F } again: first { count } } fragment F on Item { name count }")
    for _ in range(3):
        result = execute(portal._schema, document, executor_class=PortalExecutionContext)
        assert (result.data, result.errors) == ({"first": {"name": "a", "count": 1}, "again": {"count": 1}}, None)
    assert collected == ["Item", "Item"]  # once per field, for the first request only


def test_a_document_with_directives_is_collected_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    _, portal = schemas()
    document = parse("query ($x: Boolean!) { first { name @include(if: $x) count } }")
    answers = [execute(portal._schema, document, variable_values={"x": x}, executor_class=PortalExecutionContext).data
               for x in (True, False, True)]
    assert answers == [{"first": {"name": "a", "count": 1}}, {"first": {"count": 1}},
                       {"first": {"name": "a", "count": 1}}]
    assert collections_of(document.definitions[0]) is None
