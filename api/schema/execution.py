"""graphql-core's executor, with plain leaf fields read directly and field collection kept across requests.

Most fields the apps ask for are plain attributes of a strawberry type holding a scalar or an enum
(``name``, ``birthDate``, ``sex``...). graphql-core resolves each of them like any other field: it
builds a resolve info, calls strawberry's wrapper, which calls ``getattr``, then completes the value
through the generic type dispatch. For such a field the outcome is ``getattr`` plus the type's output
coercion, so this executor does just that. Errors keep graphql-core's rules (the same messages,
located at the field, null propagated from a non-null field), because they go through its own
``handle_field_error`` and ``complete_leaf_value``. Every other field goes through graphql-core.

graphql-core also works out, for every object of every request, which fields of the document apply to
it ("collecting" them: fragments merged, aliases grouped). That depends only on the document and the
type, except through directives (@skip/@include/@defer with variables), so for a document without
any directive the result is kept with its operation and reused by every later request.
"""

from __future__ import annotations

import weakref
from typing import Any, NamedTuple

from graphql import (
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


_NOT_PLANNED = object()
# Per schema: (parent type name, field name) -> LeafRead, or None for a field graphql-core must resolve.
_plans: weakref.WeakKeyDictionary[GraphQLSchema, dict[tuple[str, str], LeafRead | None]] = (
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


class PortalExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._collections = collections_of(self.operation)
        plans = _plans.get(self.schema)
        if plans is None:
            plans = _plans[self.schema] = {}
        self._leaf_plans = plans
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
        plans = self._leaf_plans
        key = (parent_type.name, field_details_list[0].node.name.value)
        plan = plans.get(key, _NOT_PLANNED)
        if plan is _NOT_PLANNED:
            plan = plans[key] = leaf_read(self.schema, parent_type, key[1])
        if plan is None:
            return super().execute_field(parent_type, source, field_details_list, path, position_context)
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
