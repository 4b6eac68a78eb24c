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
"""

from __future__ import annotations

import inspect
import types
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    OperationDefinitionNode,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import CollectedFields, FieldDetailsList
from graphql.pyutils import Path
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


# Per operation node (while it lives): (type name, ids of the field nodes) -> the collected subfields.
_collections: dict[int, dict[tuple[str, tuple[int, ...]], CollectedFields]] = {}


def collections_of(operation: OperationDefinitionNode) -> dict[tuple[str, tuple[int, ...]], CollectedFields] | None:
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
    if not isinstance(function, types.FunctionType) or inspect.isasyncgenfunction(function) \
            or inspect.isgeneratorfunction(function):
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


class PortalExecutionContext(StrawberryGraphQLCoreExecutionContext):
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
        plans = self._field_plans
        key = (parent_type.name, field_details_list[0].node.name.value)
        plan = plans.get(key, _NOT_PLANNED)
        if plan is _NOT_PLANNED:
            plan = plans[key] = plan_field(self.schema, parent_type, key[1])
        if plan is None:
            return super().execute_field(parent_type, source, field_details_list, path, position_context)
        if isinstance(plan, DirectCall):
            return self._execute_direct_call(plan, parent_type, source, field_details_list, path, position_context)
        value = getattr(source, plan.attribute, _NOT_PLANNED)
        if value is _NOT_PLANNED or self.is_awaitable(value):
            # Not a plain value after all: let graphql-core resolve it (and report what is wrong).
            return super().execute_field(parent_type, source, field_details_list, path, position_context)
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
