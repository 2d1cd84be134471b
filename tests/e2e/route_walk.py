"""What the tenant-isolation walk needs to know about a route it has never seen: a value for each path
parameter, a schema-valid request body, and whether the route authenticates with an API key at all.

Path parameters are filled by name from the seeded objects (`order_id`, `line_id` → the order line, …);
bodies are built from the route's own request model (required fields only, ids of the caller's own
objects) and validated against that model before use, so a refusal can only come from the tenant check.
A name or a schema this module cannot satisfy is reported with the route, never guessed silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

from aftersail.web.deps import get_principal, get_principal_alone

PARAM = re.compile(r"{(\w+)(?::\w+)?}")

# Path-parameter names that mean an object seeded under another name.
ALIASES = {
    "line_id": "order_line_id",
    "stock_level_id": "stock_id",
    "level_id": "stock_id",
    "lot_id": "batch_id",
    "key_id": "api_key_id",
    "group_id": "shipment_group_id",
    "component_id": "part_sku_id",
    "bundle_id": "sku_id",
    "session_id": "live_session_id",
}
# Text path parameters: the seeded natural key each one names.
TEXT_KEYS = {
    "tenant_slug": "slug",
    "slug": "slug",
    "tenant": "slug",
    "number": "order_number",
    "order_number": "order_number",
    "sku_code": "sku_code",
    "warehouse_code": "warehouse_code",
    "handle": "handle",
}


def path_params(path: str) -> list[str]:
    return PARAM.findall(path)


def param_value(name: str, seeded: Mapping[str, Any]) -> Any | None:
    """The seeded value for path parameter `name`, or None when nothing fits."""
    ids: Mapping[str, Any] = seeded["ids"]
    if name in ids:
        return ids[name]
    if name in ALIASES and ALIASES[name] in ids:
        return ids[ALIASES[name]]
    if name in TEXT_KEYS and TEXT_KEYS[name] in seeded:
        return seeded[TEXT_KEYS[name]]
    if name.endswith("_id"):
        # "refund_line_id" style names: the one seeded id whose name ends the same way.
        matches = [key for key in ids if key.endswith("_" + name) or name.endswith("_" + key)]
        if len(matches) == 1:
            return ids[matches[0]]
    return None


def fill_path(path: str, seeded: Mapping[str, Any]) -> str:
    return PARAM.sub(lambda m: str(param_value(m.group(1), seeded)), path)


def uses_api_key(route: APIRoute) -> bool:
    """Whether the route authenticates through `get_principal` (Bearer key or console session), or its
    twin for routes that open their own transactions."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        if dependant.call is get_principal or dependant.call is get_principal_alone:
            return True
        stack.extend(dependant.dependencies)
    return False


# --- request bodies -----------------------------------------------------------------------------------

_TEXT_BY_NAME: dict[str, str] = {
    "country": "US",
    "market": "US",
    "currency": "USD",
    "time_zone": "UTC",
    "email": "walker@example.com",
    "language": "en",
    "preferred_language": "en",
    "locale": "en",
}
_TEXT_CANDIDATES = ("x", "walk-1", "X1", "US", "USD", "en", "abc", "2025-01-01")


def _text(name: str, schema: Mapping[str, Any]) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2025-01-01T00:00:00Z"
    if fmt == "date":
        return "2025-01-01"
    if fmt == "email":
        return _TEXT_BY_NAME["email"]
    if name in _TEXT_BY_NAME:
        return _TEXT_BY_NAME[name]
    low, high = int(schema.get("minLength", 1)), int(schema.get("maxLength", 64))
    pattern = schema.get("pattern")
    for candidate in _TEXT_CANDIDATES:
        if low <= len(candidate) <= high and (pattern is None or re.search(pattern, candidate)):
            return candidate
    return "x" * max(low, 1)


class BodyBuilder:
    """Builds a small valid JSON body for a schema: required fields, plus the optional ones named in
    `extra` ("*" for all); integer `*_id` fields take the caller's own ids. `variant` picks other enum
    members and negative numbers, for models whose fields constrain each other."""

    def __init__(
        self,
        root: Mapping[str, Any],
        own_id: Callable[[str], Any | None],
        extra: frozenset[str],
        variant: int,
    ) -> None:
        self.defs: Mapping[str, Any] = root.get("$defs", {})
        self.own_id = own_id
        self.extra = extra
        self.variant = variant

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in schema:
            schema = self.defs[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def optional_ids(self, schema: Mapping[str, Any], seen: frozenset[str] = frozenset()) -> list[str]:
        """Names of optional integer `*_id` fields anywhere in the schema that an own object can fill."""
        schema = self.resolve(schema)
        names: list[str] = []
        for field, sub in schema.get("properties", {}).items():
            if field.endswith("_id") and field not in schema.get("required", ()) and self.own_id(field):
                names.append(field)
            ref = sub.get("$ref") or sub.get("items", {}).get("$ref")
            if ref and ref not in seen:
                names += self.optional_ids(sub.get("items", sub), seen | {ref})
        return list(dict.fromkeys(names))

    def build(self, schema: Mapping[str, Any], name: str = "") -> Any:
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return schema["enum"][self.variant % len(schema["enum"])]
        if schema.get("default") is not None:
            return schema["default"]
        for key in ("anyOf", "oneOf", "allOf"):
            if key in schema:
                options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
                return self.build(options[0], name)
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            required = schema.get("required", ())
            return {
                field: self.build(sub, field)
                for field, sub in schema.get("properties", {}).items()
                if field in required or "*" in self.extra or field in self.extra
            }
        if kind == "array":
            item = self.build(schema.get("items", {}), name.removesuffix("s"))
            return [item] * max(int(schema.get("minItems", 1)), 1)
        if kind == "integer":
            if name.endswith("_id") and self.own_id(name) is not None:
                return self.own_id(name)
            floor = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
            return -1 if self.variant % 2 and floor < 0 else max(int(floor), 1)
        if kind == "number":
            return 1
        if kind == "boolean":
            return True
        if kind == "string":
            return _text(name, schema)
        return None


def _extras(names: list[str]) -> list[frozenset[str]]:
    """Which optional fields to try: none, each id alone, all ids but one, all ids, everything."""
    every = frozenset(names)
    return [
        frozenset(),
        *(frozenset({n}) for n in names),
        *(every - {n} for n in names),
        every,
        frozenset({"*"}),
    ]


def request_body(route: APIRoute, own: Mapping[str, Any]) -> tuple[Any, str | None]:
    """(body, problem): a body the route's own model accepts, built with the objects in `own`; `problem`
    says why none could be built (the caller fails the walk with it)."""
    field = route.body_field
    if field is None or field.field_info.annotation is None:
        return None, None
    adapter: TypeAdapter[Any] = TypeAdapter(field.field_info.annotation)
    schema = adapter.json_schema()

    def own_id(name: str) -> Any | None:
        return param_value(name, own)

    problems: list[str] = []
    names = BodyBuilder(schema, own_id, frozenset(), 0).optional_ids(schema)
    for extra in _extras(names):
        for variant in range(3):
            body = BodyBuilder(schema, own_id, extra, variant).build(schema)
            try:
                adapter.validate_python(body)
            except ValidationError as exc:
                problems.append(f"{body!r}: {exc.errors(include_url=False)[:1]}")
                continue
            return body, None
    return None, "no generated body is valid; " + " / ".join(problems[:3])


def id_fields(body: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every integer `*_id` field in `body` (lists by index)."""
    found: list[str] = []
    if isinstance(body, dict):
        for key, value in body.items():
            path = f"{prefix}{key}"
            if key.endswith("_id") and isinstance(value, int):
                found.append(path)
            found.extend(id_fields(value, path + "."))
    elif isinstance(body, list):
        for index, value in enumerate(body):
            found.extend(id_fields(value, f"{prefix}{index}."))
    return found


def swapped(body: Any, path: str, value: Any) -> Any:
    """A copy of `body` with the field at dotted `path` set to `value`."""
    head, _, rest = path.partition(".")
    if isinstance(body, list):
        index = int(head)
        return [
            swapped(v, rest, value) if i == index and rest else (value if i == index else v)
            for i, v in enumerate(body)
        ]
    copy = dict(body)
    copy[head] = swapped(copy[head], rest, value) if rest else value
    return copy
