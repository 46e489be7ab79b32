"""What changed between two versions of the Podero spec, from a client's point of view.

A change is *breaking* when code written against the old client may stop working:
something it reads or calls is gone or has another type, a call needs a new required
argument, or an argument has another name. Additions are not breaking: the generated
models keep unknown fields and enum values, so the old client survives them too.

Operations are matched by method and path *shape* (parameter names blanked), so a
renamed path parameter is one rename, not an operation removed and another added.
Properties and enum values of an added or removed schema go with the schema: a new
schema is one line, not one line per field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from openapi_toolkit import toolkit

from normalize import Lock, Spec, operations, shorten_operation_ids, tag_folder

_REF_PREFIX = "#/components/schemas/"
_OPERATION_WHERE = re.compile(r"^[A-Z]+ /\S*")


class Change(NamedTuple):
    kind: str  # operation, path parameter, parameter, request body, response, schema, property, enum value
    where: str
    what: str  # added, removed, changed, renamed (an operation's generated module, a path parameter)
    breaking: bool
    detail: str = ""

    def __str__(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.kind} {self.what}: {self.where}{detail}"


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


def _refs(node: Any) -> Iterator[str]:
    """Every schema name a node refers to, without following the refs."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            yield ref.removeprefix(_REF_PREFIX)
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _request_schemas(spec: Spec) -> set[str]:
    """Schemas that callers build: those reachable from a request body or a parameter."""
    schemas = spec.get("components", {}).get("schemas", {})
    pending = [
        name
        for _, _, operation in operations(spec)
        for part in (operation.get("requestBody"), operation.get("parameters"))
        for name in _refs(part)
    ]
    found: set[str] = set()
    while pending:
        name = pending.pop()
        if name not in found and name in schemas:
            found.add(name)
            pending.extend(_refs(schemas[name]))
    return found


def _json_body_schema(part: Any) -> Any:
    """The schema of a request body or response, JSON preferred; None without a body."""
    content: Any = part.get("content") if isinstance(part, dict) else None
    if not isinstance(content, dict) or not content:
        return None
    found = toolkit.json_media(content)
    media: Any = found[1] if found else next(iter(content.values()))
    return media.get("schema") if isinstance(media, dict) else None


class _Operation(NamedTuple):
    label: str  # "GET /path" as the spec spells it
    name: str  # where the generated function lives: "user_wallboxes.retrieve_wallbox"
    path_parameters: tuple[str, ...]
    facts: dict[str, Any]  # parameter, request body and response facts, keyed by "<kind> <name>"
    enums: dict[str, list[Any]]


def _operations(spec: Spec, lock: Lock | None = None, named: Lock | None = None) -> dict[str, _Operation]:
    """The spec's operations by identity; ``named`` (a lock a generation wrote) gives their Python names."""
    found: dict[str, _Operation] = {}
    short = shorten_operation_ids(spec, lock)
    for (path, method, operation), (_, _, shortened) in zip(operations(spec), operations(short), strict=True):
        facts: dict[str, Any] = {}
        enums: dict[str, list[Any]] = {}
        path_parameters = tuple(toolkit.path_parameter_names(path))
        for _, parameter in toolkit.parameters(spec, path, method):
            location, name = parameter.get("in"), parameter.get("name")
            # Path parameters are matched by position: a renamed one is reported once, as a rename.
            key = f"path #{path_parameters.index(name) + 1}" if location == "path" and name in path_parameters else name
            where = f"parameter {location}:{key}"
            facts[where] = (bool(parameter.get("required")), _type_of(parameter.get("schema")))
            enums.update(_enums(f"{method.upper()} {path} {location}:{name}", parameter.get("schema")))
        body = toolkit.deref(spec, operation.get("requestBody"))
        if isinstance(body, dict):
            facts["request body"] = (bool(body.get("required")), _type_of(_json_body_schema(body)))
        responses = operation.get("responses")
        for code, response in responses.items() if isinstance(responses, dict) else ():
            facts[f"response {code}"] = (False, _type_of(_json_body_schema(toolkit.deref(spec, response))))
        entry = (named or {}).get(toolkit.operation_key(path, method, operation), {})
        name = entry.get("python") or f"{tag_folder(operation)}.{shortened.get('operationId', '?')}"
        found[" ".join(toolkit.operation_identity(method, path))] = _Operation(
            f"{method.upper()} {path}", name, path_parameters, facts, enums
        )
    return found


def _schema_facts(spec: Spec) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[Any]]]:
    schemas: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    enums: dict[str, list[Any]] = {}
    for schema_name, schema in spec.get("components", {}).get("schemas", {}).items():
        if not isinstance(schema, dict):  # OpenAPI 3.1's boolean schemas: true is anything, false nothing
            schemas[schema_name] = json.dumps(schema)
            continue
        schemas[schema_name] = schema.get("type", "object")
        enums.update(_enums(schema_name, schema))
        required = set(schema.get("required", []))
        for prop_name, prop in schema.get("properties", {}).items():
            where = f"{schema_name}.{prop_name}"
            properties[where] = (prop_name in required, _type_of(prop))
            enums.update(_enums(where, prop))
    return schemas, properties, enums


def _compare_enums(was: dict[str, list[Any]], now: dict[str, list[Any]], skip: set[str]) -> Iterator[Change]:
    for where in sorted(was.keys() | now.keys()):
        if where.split(".", 1)[0].removesuffix("[]") in skip:
            continue
        old_values, new_values = was.get(where, []), now.get(where, [])
        if where not in was or where not in now:
            continue  # a new or removed property or parameter says it already
        for value in new_values:
            if value not in old_values:
                yield Change("enum value", where, "added", False, json.dumps(value))
        for value in old_values:
            if value not in new_values:
                yield Change("enum value", where, "removed", True, json.dumps(value))


def _fact_kind(key: str) -> str:
    return key if key == "request body" else key.split(" ", 1)[0]


def _compare_operation(old: _Operation, new: _Operation) -> Iterator[Change]:
    where = new.label
    if old.name != new.name:  # another operationId, or a same-tag collision: the module is renamed
        yield Change("operation", where, "renamed", True, f"{old.name} -> {new.name}")
    for was, now in zip(old.path_parameters, new.path_parameters, strict=True):
        if was != now:
            detail = f"{was} -> {now}: the keyword argument of {new.name} is renamed"
            yield Change("path parameter", where, "renamed", True, detail)
    for key in sorted(new.facts.keys() - old.facts.keys()):
        required = new.facts[key][0]
        yield Change(_fact_kind(key), f"{where} {key}", "added", required, "required" if required else "")
    for key in sorted(old.facts.keys() - new.facts.keys()):
        yield Change(_fact_kind(key), f"{where} {key}", "removed", True)
    for key in sorted(old.facts.keys() & new.facts.keys()):
        (was_required, was_type), (now_required, now_type) = old.facts[key], new.facts[key]
        kind = _fact_kind(key)
        if was_type != now_type:
            yield Change(kind, f"{where} {key}", "changed", True, f"type {was_type} -> {now_type}")
        if was_required != now_required:
            yield Change(
                kind, f"{where} {key}", "changed", now_required, "now required" if now_required else "now optional"
            )
    yield from _compare_enums(old.enums, new.enums, set())


def diff(old: Spec, new: Spec, lock: Lock | None = None, new_lock: Lock | None = None) -> list[Change]:
    """Every change from ``old`` to ``new``, in a stable order.

    Operations are named as the code has them: ``old``'s by ``lock``, ``new``'s by ``new_lock`` (the
    lock the generation wrote, e.g. ``retry_.get_thing``); without one, as generation would name them.
    """
    changes: list[Change] = []
    was_ops, now_ops = _operations(old, lock, lock), _operations(new, lock, new_lock)
    for key in sorted(now_ops.keys() - was_ops.keys()):
        changes.append(Change("operation", now_ops[key].label, "added", False, now_ops[key].name))
    for key in sorted(was_ops.keys() - now_ops.keys()):
        changes.append(Change("operation", was_ops[key].label, "removed", True, was_ops[key].name))
    for key in sorted(was_ops.keys() & now_ops.keys()):
        changes.extend(_compare_operation(was_ops[key], now_ops[key]))

    (was_schemas, was_props, was_enums), (now_schemas, now_props, now_enums) = _schema_facts(old), _schema_facts(new)
    added = now_schemas.keys() - was_schemas.keys()
    removed = was_schemas.keys() - now_schemas.keys()
    for name in sorted(added):
        changes.append(Change("schema", name, "added", False))
    for name in sorted(removed):
        changes.append(Change("schema", name, "removed", True))
    for name in sorted(was_schemas.keys() & now_schemas.keys()):
        if was_schemas[name] != now_schemas[name]:
            changes.append(Change("schema", name, "changed", True, f"{was_schemas[name]} -> {now_schemas[name]}"))
    built_by_callers = _request_schemas(old) | _request_schemas(new)
    moved = added | removed
    for where in sorted(now_props.keys() - was_props.keys()):
        if where.split(".", 1)[0] not in moved:
            # A new required field breaks code that builds the model; readers do not mind.
            required = now_props[where][0]
            breaking = required and where.split(".", 1)[0] in built_by_callers
            changes.append(Change("property", where, "added", breaking, "required" if required else ""))
    for where in sorted(was_props.keys() - now_props.keys()):
        if where.split(".", 1)[0] not in moved:
            changes.append(Change("property", where, "removed", True))
    for where in sorted(was_props.keys() & now_props.keys()):
        (was_required, was_type), (now_required, now_type) = was_props[where], now_props[where]
        if was_type != now_type:
            changes.append(Change("property", where, "changed", True, f"type {was_type} -> {now_type}"))
        if was_required != now_required:
            # Optional now: readers get UNSET. Required now: builders must pass it.
            breaking = not now_required or where.split(".", 1)[0] in built_by_callers
            changes.append(
                Change("property", where, "changed", breaking, "now required" if now_required else "now optional")
            )
    changes.extend(_compare_enums(was_enums, now_enums, moved))
    return changes


def render(
    changes: list[Change],
    old_label: str,
    new_label: str,
    *,
    api_breakages: list[str] | None = None,
    outcome: str = "",
) -> str:
    """A plain-text report: the outcome and a summary first, then breaking changes, then the rest.

    ``api_breakages`` are the generated Python API's breaking changes (scripts/regenerate.py
    finds them in the generated code, scripts/api_surface.py); ``outcome`` is what the run did with the spec.
    """
    api_breakages = api_breakages or []
    counts: dict[tuple[str, str], int] = {}
    for change in changes:
        counts[change.kind, change.what] = counts.get((change.kind, change.what), 0) + 1
    changed_operations = {
        match[0]
        for change in changes
        if (change.kind, change.what) not in (("operation", "added"), ("operation", "removed"))
        and (match := _OPERATION_WHERE.match(change.where))
    }
    breaking = [change for change in changes if change.breaking]
    other = [change for change in changes if not change.breaking and (change.kind, change.what) != ("schema", "added")]
    new_schemas = [change.where for change in changes if (change.kind, change.what) == ("schema", "added")]
    lines = [
        f"Spec changes from {old_label} to {new_label}",
        *([outcome] if outcome else []),
        f"Summary: operations {counts.get(('operation', 'added'), 0)} added, "
        f"{counts.get(('operation', 'removed'), 0)} removed, {len(changed_operations)} changed; "
        f"schemas {len(new_schemas)} added, {counts.get(('schema', 'removed'), 0)} removed; "
        f"{len(breaking)} breaking in the spec, {len(api_breakages)} in the generated Python API.",
    ]
    if breaking or api_breakages:
        lines += ["", f"Breaking changes ({len(breaking) + len(api_breakages)}):"]
        lines += [f"  spec: {change}" for change in breaking]
        lines += [f"  python: {breakage}" for breakage in api_breakages]
    if new_schemas:
        lines += ["", f"New schemas ({len(new_schemas)}): {', '.join(new_schemas)}"]
    if other:
        lines += ["", f"Other changes ({len(other)}):"]
        lines += [f"  {change}" for change in other]
    return "\n".join(lines) + "\n"
