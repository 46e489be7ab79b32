"""What changed between two versions of the Podero spec, from a client's point of view.

A change is *breaking* when code written against the old client may stop working:
something it reads or calls is gone or has another type, or a call needs a new
required argument. Additions are not breaking: the generated models keep unknown
fields and enum values, so the old client survives them too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

from normalize import Spec, operations

_REF_PREFIX = "#/components/schemas/"


class Change(NamedTuple):
    kind: str  # operation, parameter, schema, property, enum value
    where: str
    what: str  # added, removed, changed
    breaking: bool
    detail: str = ""

    def __str__(self) -> str:
        mark = "BREAKING" if self.breaking else "ok"
        detail = f" ({self.detail})" if self.detail else ""
        return f"[{mark:8}] {self.kind} {self.what}: {self.where}{detail}"


def _type_of(schema: Any) -> str:
    """A short, comparable signature of a schema's type, enums aside."""
    if not isinstance(schema, dict):
        return "any"
    if "$ref" in schema:
        return str(schema["$ref"]).removeprefix(_REF_PREFIX)
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            return f"{combinator}[{', '.join(sorted(_type_of(member) for member in schema[combinator]))}]"
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"array[{_type_of(schema.get('items'))}]"
    if "format" in schema:
        return f"{kind}:{schema['format']}"
    return kind


def _enums(where: str, schema: Any) -> Iterator[tuple[str, list[Any]]]:
    """Every enum reachable inside one schema without following refs."""
    if not isinstance(schema, dict):
        return
    if isinstance(schema.get("enum"), list):
        yield where, schema["enum"]
    for combinator in ("anyOf", "oneOf", "allOf"):
        for member in schema.get(combinator, []):
            yield from _enums(where, member)
    if "items" in schema:
        yield from _enums(f"{where}[]", schema["items"])


def _facts(spec: Spec) -> dict[str, dict[str, Any]]:
    found_operations: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    for path, method, operation in operations(spec):
        name = f"{method.upper()} {path}"
        found_operations[name] = operation.get("operationId", "")
        for parameter in operation.get("parameters", []):
            key = f"{name} {parameter.get('in')}:{parameter.get('name')}"
            parameters[key] = (bool(parameter.get("required")), _type_of(parameter.get("schema")))
        body = operation.get("requestBody")
        if isinstance(body, dict):
            parameters[f"{name} body"] = (bool(body.get("required")), "body")
    schemas: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    enums: dict[str, list[Any]] = {}
    for schema_name, schema in spec.get("components", {}).get("schemas", {}).items():
        schemas[schema_name] = schema.get("type", "object")
        enums.update(_enums(schema_name, schema))
        required = set(schema.get("required", []))
        for prop_name, prop in schema.get("properties", {}).items():
            where = f"{schema_name}.{prop_name}"
            properties[where] = (prop_name in required, _type_of(prop))
            enums.update(_enums(where, prop))
    return {
        "operation": found_operations,
        "parameter": parameters,
        "schema": schemas,
        "property": properties,
        "enum": enums,
    }


def diff(old: Spec, new: Spec) -> list[Change]:
    """Every change from ``old`` to ``new``, in a stable order."""
    before, after = _facts(old), _facts(new)
    changes: list[Change] = []
    moved = before["operation"].keys() ^ after["operation"].keys()
    for kind in ("operation", "parameter", "schema", "property"):
        was, now = before[kind], after[kind]
        if kind == "parameter":  # those of a new or removed operation go with it
            was, now = ({k: v for k, v in d.items() if k.rsplit(" ", 1)[0] not in moved} for d in (was, now))
        for where in sorted(now.keys() - was.keys()):
            breaking = kind == "parameter" and now[where][0]  # a new required argument
            changes.append(Change(kind, where, "added", breaking))
        for where in sorted(was.keys() - now.keys()):
            changes.append(Change(kind, where, "removed", True))
        for where in sorted(was.keys() & now.keys()):
            if was[where] == now[where]:
                continue
            if kind in ("parameter", "property"):
                (was_required, was_type), (now_required, now_type) = was[where], now[where]
                if was_type != now_type:
                    changes.append(Change(kind, where, "changed", True, f"type {was_type} -> {now_type}"))
                if was_required != now_required:
                    # A parameter that becomes required breaks callers; a response
                    # property that becomes optional breaks readers.
                    breaking = now_required if kind == "parameter" else not now_required
                    detail = "now required" if now_required else "now optional"
                    changes.append(Change(kind, where, "changed", breaking, detail))
            else:
                changes.append(Change(kind, where, "changed", True, f"{was[where]} -> {now[where]}"))
    was_enums, now_enums = before["enum"], after["enum"]
    for where in sorted(was_enums.keys() | now_enums.keys()):
        old_values, new_values = was_enums.get(where, []), now_enums.get(where, [])
        for value in new_values:
            if value not in old_values:
                changes.append(Change("enum value", where, "added", False, json.dumps(value)))
        for value in old_values:
            if value not in new_values:
                changes.append(Change("enum value", where, "removed", True, json.dumps(value)))
    return changes


def render(changes: list[Change], old_label: str, new_label: str) -> str:
    """A plain-text report, breaking changes counted first."""
    breaking = sum(change.breaking for change in changes)
    lines = [
        f"Spec changes from {old_label} to {new_label}: {len(changes)} change(s), {breaking} breaking.",
        "",
        *(str(change) for change in changes),
    ]
    return "\n".join(lines) + "\n"
