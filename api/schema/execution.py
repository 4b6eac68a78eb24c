"""graphql-core's executor with three shortcuts: plain leaf fields read, plain resolver functions called
and field collection kept across requests, each where the outcome is the same.

Most fields the apps ask for are plain attributes of a strawberry type holding a scalar or an enum
(``name``, ``birthDate``, ``sex``...). graphql-core resolves each of them like any other field: it
builds a resolve info, calls strawberry's wrapper, which calls ``getattr``, then completes the value
through the generic type dispatch. For such a field the outcome is ``getattr`` plus the type's output
coercion, so this executor does just that. Errors keep graphql-core's rules (the same messages,
located at the field, null propagated from a non-null field), because they go through its own
``handle_field_error`` and ``complete_leaf_value``. A field with a plain resolver function (no
arguments, no field extensions, no exception handlers) has that function called directly, with what
strawberry would pass it (the source as ``self``/``root``/``parent``, strawberry's ``Info``) instead of
through strawberry's chain of wrappers; completion stays graphql-core's. Every other field goes through
graphql-core as it is.

graphql-core also works out, for every object of every request, which fields of the document apply to
it ("collecting" them: fragments merged, aliases grouped). That depends only on the document and the
type, except through directives (@skip/@include/@defer with variables), so for a document without
any directive the result is kept with its operation and reused by every later request.

The direct path (``PortalSchema.execute_document``) runs directive-free documents on ``DirectExecutor``:
graphql-core's plain executor instead of its incremental one, whose set-up per request (delivery
groups, execution plans, a publisher) serves only @defer/@stream, with the same shortcuts, plain leaf
fields completed inside the fields loop, and objects taken straight to their (kept) subfields.
"""

from __future__ import annotations

import inspect
import types
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

from graphql import (
    DocumentNode,
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    OperationType,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import CollectedFields, FieldDetailsList, FragmentDetails, collect_fields
from graphql.execution.executor import (
    Executor,
    default_field_resolver,
    default_type_resolver,
    invalid_return_type_error,
)
from graphql.execution.values import get_variable_values
from graphql.pyutils import Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class LeafRead(NamedTuple):
    """How to produce a plain leaf field: read ``attribute``, coerce it with ``leaf``."""

    attribute: str
    leaf: GraphQLLeafType
    return_type: GraphQLOutputType
    label: str  # "Type.field", for graphql-core's non-null message


class DirectCall(NamedTuple):
    """How to resolve a field with a plain resolver function: ``call(source, info)``."""

    call: Callable[[Any, Any], Any]
    field: GraphQLField


_NOT_PLANNED = object()
_FRAGMENTS = ("fragments",)  # the key of a document's fragments in its operation's cache
# Leaf values completed inside the fields loop (anything else, e.g. an awaitable, goes through execute_field).
_PLAIN_VALUES = frozenset({str, int, float, bool, type(None)})
MAX_COERCION_ERRORS = 50  # graphql-core's default for execute
# Per schema: (parent type name, field name) -> how to resolve it, or None for graphql-core's way.
_plans: weakref.WeakKeyDictionary[GraphQLSchema, dict[tuple[str, str], LeafRead | DirectCall | None]] = (
    weakref.WeakKeyDictionary())


def leaf_read(schema: GraphQLSchema, parent_type: GraphQLObjectType, field_name: str) -> LeafRead | None:
    """The direct read for a field strawberry resolves with ``getattr`` and whose type is a leaf; else None."""
    field = schema.get_field(parent_type, field_name)
    if field is None or not getattr(field.resolve, "_is_default", False):
        return None  # strawberry marks the resolvers of fields without resolver or extensions
    definition = field.extensions.get("strawberry-definition")
    if definition is None or definition.default_resolver is not getattr:
        return None
    inner = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not is_leaf_type(inner):
        return None
    return LeafRead(definition.python_name, inner, field.type, f"{parent_type.name}.{field_name}")


# Per operation node (while it lives), what its requests share: (type name, ids of the field nodes) -> the
# collected subfields; (type name, id of a collected set) -> (the set, its field entries); _FRAGMENTS -> the
# document's fragments.
OperationCache = dict[tuple[Any, ...], Any]
_collections: dict[int, OperationCache] = {}


def collections_of(operation: OperationDefinitionNode) -> OperationCache | None:
    """The cross-request collection cache of a directive-free operation; None when it has directives."""
    cache = _collections.get(id(operation))
    if cache is None:
        source = operation.loc.source.body if operation.loc is not None else "@"
        if "@" in source:  # a directive anywhere in the document (or an "@" in a string: no cache either)
            return None
        cache = _collections[id(operation)] = {}
        weakref.finalize(operation, _collections.pop, id(operation), None)
    return cache


def direct_call(schema: GraphQLSchema, parent_type: GraphQLObjectType, field_name: str) -> DirectCall | None:
    """The direct call of a field's resolver function, when strawberry would only pass it the source and
    its ``Info``: no arguments, no field extensions, no exception handlers, a plain (async) function."""
    field = schema.get_field(parent_type, field_name)
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    if field is None or field.args or strawberry_schema is None:
        return None
    if getattr(strawberry_schema.schema_converter, "_exception_handler_specs", None) != ():
        return None
    definition = field.extensions.get("strawberry-definition")
    resolver = getattr(definition, "base_resolver", None)
    if resolver is None or definition.extensions or definition.arguments:
        return None
    function = resolver.wrapped_func
    # A function, or a classmethod bound to its class (relay's Node.id); a bound method's own first
    # parameter is already bound, so strawberry reports no self parameter for it.
    plain = isinstance(function, types.FunctionType) or (
        isinstance(function, types.MethodType) and isinstance(function.__func__, types.FunctionType)
        and isinstance(function.__self__, type))
    if not plain or inspect.isasyncgenfunction(function) or inspect.isgeneratorfunction(function):
        return None
    info_class = strawberry_schema.config.info_class
    takes_self = resolver.self_parameter is not None
    sources = [parameter.name for parameter in (resolver.root_parameter, resolver.parent_parameter) if parameter]
    info_name = resolver.info_parameter.name if resolver.info_parameter else None

    def call(source: Any, info: Any) -> Any:
        kwargs = dict.fromkeys(sources, source)
        if info_name:
            kwargs[info_name] = info_class(_raw_info=info, _field=definition)
        return function(source, **kwargs) if takes_self else function(**kwargs)

    return DirectCall(call, field)


def plan_field(schema: GraphQLSchema, parent_type: GraphQLObjectType, field_name: str) -> LeafRead | DirectCall | None:
    return leaf_read(schema, parent_type, field_name) or direct_call(schema, parent_type, field_name)


class FieldShortcuts:
    """The three shortcuts, for a graphql-core executor class (mixed in before it)."""

    # The executor's own attributes, as graphql-core's Executor sets them.
    schema: GraphQLSchema
    operation: OperationDefinitionNode
    middleware_manager: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._collections = collections_of(self.operation)
        plans = _plans.get(self.schema)
        if plans is None:
            plans = _plans[self.schema] = {}
        self._field_plans = plans
        # Middleware wraps every resolver, so with any, every field goes through graphql-core.
        self._direct = self.middleware_manager is None or not self.middleware_manager.middlewares

    def collect_subfields(self, return_type: GraphQLObjectType,
                          field_details_list: FieldDetailsList) -> CollectedFields:
        cache = self._collections
        if cache is None:
            return super().collect_subfields(return_type, field_details_list)
        key = (return_type.name, tuple(id(details.node) for details in field_details_list))
        collected = cache.get(key)
        if collected is None:
            collected = cache[key] = super().collect_subfields(return_type, field_details_list)
        return collected

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        if not self._direct:
            return super().execute_field(parent_type, source, field_details_list, path, position_context)
        plan = self._plan(parent_type, field_details_list[0].node.name.value)
        if plan is None:
            return super().execute_field(parent_type, source, field_details_list, path, position_context)
        if isinstance(plan, DirectCall):
            return self._execute_direct_call(plan, parent_type, source, field_details_list, path, position_context)
        value = getattr(source, plan.attribute, _NOT_PLANNED)
        if value is _NOT_PLANNED or self.is_awaitable(value):
            # Not a plain value after all: let graphql-core resolve it (and report what is wrong).
            return super().execute_field(parent_type, source, field_details_list, path, position_context)
        return self._complete_leaf(plan, value, field_details_list, path)

    def _plan(self, parent_type: GraphQLObjectType, field_name: str) -> LeafRead | DirectCall | None:
        """How to resolve the field, worked out once per schema."""
        plans = self._field_plans
        key = (parent_type.name, field_name)
        plan = plans.get(key, _NOT_PLANNED)
        if plan is _NOT_PLANNED:
            plan = plans[key] = plan_field(self.schema, parent_type, field_name)
        return plan  # type: ignore[return-value]

    def _complete_leaf(self, plan: LeafRead, value: Any, field_details_list: FieldDetailsList, path: Path) -> Any:
        """graphql-core's completion of a leaf field's value, errors included (``path`` is only read then)."""
        try:
            if isinstance(value, Exception):
                raise value
            if value is None or value is Undefined:
                if plan.return_type is not plan.leaf:  # non-null
                    raise TypeError(f"Cannot return null for non-nullable field {plan.label}.")
                return None
            return self.complete_leaf_value(plan.leaf, value)
        except Exception as raw_error:
            self.handle_field_error(raw_error, plan.return_type, field_details_list, path)
            return None

    def _execute_direct_call(
        self, plan: DirectCall, parent_type: GraphQLObjectType, source: Any, field_details_list: FieldDetailsList,
        path: Path, position_context: Any,
    ) -> Any:
        """graphql-core's ``execute_field`` for a field without arguments, calling ``plan.call``."""
        return_type = plan.field.type
        info = self.build_resolve_info(plan.field, [details.node for details in field_details_list], parent_type,
                                       path)
        try:
            result = plan.call(source, info)
            if self.is_awaitable(result):
                return self.complete_awaitable_value(return_type, field_details_list, info, path, result,
                                                     position_context)
            completed = self.complete_value(return_type, field_details_list, info, path, result, position_context)
            if self.is_awaitable(completed):
                return self._await_completed(completed, return_type, field_details_list, path)
        except Exception as raw_error:  # graphql-core's rule: a field error, located at the field
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        return completed

    async def _await_completed(self, completed: Any, return_type: GraphQLOutputType,
                               field_details_list: FieldDetailsList, path: Path) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None


class PortalExecutionContext(FieldShortcuts, StrawberryGraphQLCoreExecutionContext):
    """The schema's executor in strawberry's own pipeline (GET, subscriptions, documents with directives)."""


class DirectExecutor(FieldShortcuts, Executor):
    """The executor of the direct path (``PortalSchema.execute_document``) for documents without any
    directive: graphql-core's plain ``Executor`` rather than its incremental one (with no directive nothing
    can be deferred or streamed, and the incremental executor's per-request set-up is a third of a small
    query's cost), strawberry's ``Info`` for resolvers, and the root fields' collection kept with the
    operation like every other."""

    build_resolve_info = StrawberryGraphQLCoreExecutionContext.build_resolve_info
    operation_extensions: dict[str, Any] | None = None

    @classmethod
    def for_operation(
        cls, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, *,
        context_value: Any, variable_values: dict[str, Any] | None, operation_extensions: dict[str, Any] | None,
        is_awaitable: Callable[[Any], Any],
    ) -> DirectExecutor | list[GraphQLError] | None:
        """``Executor.build`` for an operation already picked from a validated document: its fragments and
        coerced variables (or the variables' errors, as ``build`` returns them). None where this executor
        does not apply: a directive in the document, or fragment variables."""
        cache = collections_of(operation)
        if cache is None:
            return None
        fragments = cache.get(_FRAGMENTS)
        if fragments is None:  # the document's fragments, kept with its operation like its collections
            definitions = {definition.name.value: definition for definition in document.definitions
                           if isinstance(definition, FragmentDefinitionNode)}
            fragments = cache[_FRAGMENTS] = (
                definitions, {name: FragmentDetails(definition, None) for name, definition in definitions.items()},
                any(definition.variable_definitions for definition in definitions.values()))
        fragment_definitions, fragment_details, fragment_variables = fragments
        if fragment_variables:
            return None
        coerced = get_variable_values(schema, operation.variable_definitions or (), variable_values or {},
                                      max_errors=MAX_COERCION_ERRORS)
        if isinstance(coerced, list):
            return coerced
        executor = cls(schema, fragment_definitions, fragment_details, None, context_value, operation, coerced,
                       default_field_resolver, default_type_resolver, default_field_resolver,
                       is_awaitable=is_awaitable)
        executor.operation_extensions = operation_extensions
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        """graphql-core's ``execute_operation`` (no abort signal, no hooks) with the root fields' collection
        kept with the operation."""
        cache, operation = self._collections, self.operation
        root_type = self.schema.get_root_type(operation.operation)
        if cache is None or root_type is None or operation.operation == OperationType.SUBSCRIPTION:
            return super().execute_operation(serially)
        key = (root_type.name, ())
        collected = cache.get(key)
        if collected is None:
            try:
                collected = collect_fields(self.schema, self.fragments, self.variable_values, root_type, operation,
                                           self.hide_suggestions)
            except RecursionError:
                collected = None
            if collected is None:  # graphql-core reports it
                return super().execute_operation(serially)
            cache[key] = collected
        if serially is None:
            serially = operation.operation == OperationType.MUTATION
        try:
            result = (self.execute_fields_serially if serially else self.execute_fields)(
                root_type, self.root_value, None, collected.grouped_field_set, None)
        except GraphQLError as error:
            self.collected_errors.add(error, None)
            return self.build_response(None)
        if self.is_awaitable(result):
            return self._await_response(result)
        return self.build_response(result)

    def execute_fields(
        self, parent_type: GraphQLObjectType, source_value: Any, path: Path | None,
        grouped_field_set: dict[str, FieldDetailsList], position_context: Any,
    ) -> Any:
        """graphql-core's ``execute_fields``, completing plain leaf fields in the loop itself."""
        if not self._direct:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        parent_name = parent_type.name
        try:
            for response_name, field_details_list, plan, as_is in self._field_entries(parent_type, grouped_field_set):
                if plan is not None:
                    value = getattr(source_value, plan.attribute, _NOT_PLANNED)
                    kind = type(value)
                    if kind is str and as_is:  # String and ID give a str back unchanged
                        results[response_name] = value
                        continue
                    if kind in _PLAIN_VALUES:
                        results[response_name] = self._complete_leaf(
                            plan, value, field_details_list, Path(path, response_name, parent_name))
                        continue
                result = self.execute_field(parent_type, source_value, field_details_list,
                                            Path(path, response_name, parent_name), position_context)
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:  # as graphql-core: the other fields' awaitables are settled, not leaked
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return self._gather_fields(results, awaitable_fields)

    def _field_entries(self, parent_type: GraphQLObjectType, grouped_field_set: dict[str, FieldDetailsList]
                       ) -> list[tuple[str, FieldDetailsList, LeafRead | None, bool]]:
        """(response name, field nodes, the leaf read or None, whether a str read is the answer as it is) for
        each field of a kept collection, worked out once and kept with the operation."""
        cache = self._collections
        if cache is None:
            return self._plan_entries(parent_type, grouped_field_set)
        key = (parent_type.name, id(grouped_field_set))
        kept = cache.get(key)
        if kept is None or kept[0] is not grouped_field_set:  # the set itself is held, so its id stays its own
            kept = cache[key] = (grouped_field_set, self._plan_entries(parent_type, grouped_field_set))
        return kept[1]

    def _plan_entries(self, parent_type: GraphQLObjectType, grouped_field_set: dict[str, FieldDetailsList]
                      ) -> list[tuple[str, FieldDetailsList, LeafRead | None, bool]]:
        entries = []
        for response_name, field_details_list in grouped_field_set.items():
            plan = self._plan(parent_type, field_details_list[0].node.name.value)
            leaf = plan if type(plan) is LeafRead else None
            entries.append((response_name, field_details_list, leaf,
                            leaf is not None and (leaf.leaf is GraphQLString or leaf.leaf is GraphQLID)))
        return entries

    @staticmethod
    async def _gather_fields(results: dict[str, Any], awaitable_fields: list[str]) -> dict[str, Any]:
        if len(awaitable_fields) == 1:
            field = awaitable_fields[0]
            results[field] = await results[field]
        else:
            results.update(zip(awaitable_fields, await gather_with_cancel(
                *(results[field] for field in awaitable_fields)), strict=True))
        return results

    def complete_value(
        self, return_type: GraphQLOutputType, field_details_list: FieldDetailsList, info: Any, path: Path,
        result: Any, position_context: Any,
    ) -> Any:
        """graphql-core's ``complete_value``, straight to the subfields for a (nullable) object type."""
        if (type(return_type) is not GraphQLObjectType or result is None or result is Undefined
                or isinstance(result, Exception) or self._collections is None):
            return super().complete_value(return_type, field_details_list, info, path, result, position_context)
        is_type_of = return_type.is_type_of
        if is_type_of is not None:
            matches = is_type_of(result, info)
            if self.is_awaitable(matches):
                return self._complete_object_after(matches, return_type, field_details_list, path, result,
                                                   position_context)
            if not matches:
                raise invalid_return_type_error(return_type, result, field_details_list)
        return self._execute_subfields(return_type, field_details_list, path, result, position_context)

    def _execute_subfields(self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList, path: Path,
                           result: Any, position_context: Any) -> Any:
        # No directive in the document: no deferred fields, so the collected set is executed as it is.
        return self.execute_fields(return_type, result, path,
                                   self.collect_subfields(return_type, field_details_list).grouped_field_set,
                                   position_context)

    async def _complete_object_after(self, matches: Any, return_type: GraphQLObjectType,
                                     field_details_list: FieldDetailsList, path: Path, result: Any,
                                     position_context: Any) -> dict[str, Any]:
        if not await matches:
            raise invalid_return_type_error(return_type, result, field_details_list)
        fields = self._execute_subfields(return_type, field_details_list, path, result, position_context)
        return await fields if self.is_awaitable(fields) else fields

    async def complete_awaitable_value(
        self, return_type: GraphQLOutputType, field_details_list: FieldDetailsList, info: Any, path: Path,
        result: Any, position_context: Any,
    ) -> Any:
        """graphql-core's ``complete_awaitable_value`` for an execution without an abort signal (this executor's
        always): the resolver's awaitable awaited as it is, not through ``with_abort_signal``'s extra coroutine."""
        if self.abort_signal is not None:
            return await super().complete_awaitable_value(return_type, field_details_list, info, path, result,
                                                          position_context)
        try:
            completed = self.complete_value(return_type, field_details_list, info, path, await result,
                                            position_context)
            if self.is_awaitable(completed):
                completed = await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            completed = None
        return completed

    async def _await_response(self, result: Any) -> ExecutionResult:
        try:
            data = await result
        except GraphQLError as error:
            self.collected_errors.add(error, None)
            return self.build_response(None)
        return self.build_response(data)
