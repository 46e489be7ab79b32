"""Repair the published Podero spec so that openapi-python-client can generate from it.

Each rule is a pure function ``Spec -> Spec`` that is deterministic and a no-op on a
spec that no longer has the defect, so an upstream fix passes through untouched.
The pinned ``openapi.json`` is never edited: the next pull would bring the defects back.
"""

from __future__ import annotations

import copy
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

Spec = dict[str, Any]
Rule = Callable[[Spec], Spec]

_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Django Ninja builds operationIds as "<dotted module path>_<function name>", with the
# dots turned into underscores; Podero's router modules are all named "router".
_NINJA_OPERATION_ID = re.compile(r"^[a-z0-9_]+_router_(?P<name>[a-z][a-z0-9_]*)$")


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Yield every mapping in the document, depth first, in document order."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def operations(spec: Spec) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield ``(path, method, operation)`` for every operation, in document order."""
    for path, path_item in spec.get("paths", {}).items():
        for method in _HTTP_METHODS:
            if isinstance(path_item.get(method), dict):
                yield path, method, path_item[method]


def stringify_discriminator_mappings(spec: Spec) -> Spec:
    """``discriminator.mapping`` values must be ref strings; Podero publishes ``{"$ref": ...}``."""
    spec = copy.deepcopy(spec)
    for node in _walk(spec):
        discriminator = node.get("discriminator")
        if not isinstance(discriminator, dict) or not isinstance(discriminator.get("mapping"), dict):
            continue
        mapping = discriminator["mapping"]
        for key, value in mapping.items():
            if isinstance(value, dict) and isinstance(value.get("$ref"), str):
                mapping[key] = value["$ref"]
    return spec


def _pascal_case(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def _distinct_prefixes(keys: list[str]) -> dict[str, str]:
    """The shortest run of key segments, nearest the name, that tells colliding keys apart."""
    segments = {key: key.split("__")[:-1] for key in keys}
    for depth in range(1, max(len(s) for s in segments.values()) + 1):
        prefixes = {key: _pascal_case("_".join(parts[-depth:])) for key, parts in segments.items()}
        if len(set(prefixes.values())) == len(keys):
            return prefixes
    return {key: _pascal_case(key.replace("__", "_")) for key in keys}


def dedupe_schema_titles(spec: Spec) -> Spec:
    """Give components that share a ``title`` unique class names derived from their keys.

    ``cue_handler__api_schemas__ResolutionLinkSchema`` and
    ``cue_handler__actions__reauth__ResolutionLinkSchema`` both say ``ResolutionLinkSchema``;
    the generator then silently drops a model. They become ``ApiSchemasResolutionLinkSchema``
    and ``ReauthResolutionLinkSchema``.
    """
    schemas: dict[str, Any] = spec.get("components", {}).get("schemas", {})
    by_title: defaultdict[str, list[str]] = defaultdict(list)
    for key, schema in schemas.items():
        if isinstance(schema, dict):
            by_title[str(schema.get("title", key))].append(key)
    collisions = {title: keys for title, keys in by_title.items() if len(keys) > 1}
    if not collisions:
        return spec
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    taken = set(by_title)
    for title, keys in sorted(collisions.items()):
        for key, prefix in _distinct_prefixes(keys).items():
            name = title if title.startswith(prefix) else f"{prefix}{title}"
            while name in taken:
                name += "_"
            taken.add(name)
            schemas[key]["title"] = name
    return spec


def shorten_operation_ids(spec: Spec) -> Spec:
    """Turn Django Ninja's ``<module path>_router_<function>`` operationIds into ``<function>``.

    A short name that would collide with another operation's keeps its long form.
    """
    found = [operation for _, _, operation in operations(spec)]
    short: dict[str, str] = {}
    for operation in found:
        operation_id = operation.get("operationId")
        if isinstance(operation_id, str) and (match := _NINJA_OPERATION_ID.match(operation_id)):
            short[operation_id] = match["name"]
    wanted = [short.get(op.get("operationId", ""), op.get("operationId")) for op in found]
    if not short:
        return spec
    spec = copy.deepcopy(spec)
    for (_, _, operation), name in zip(operations(spec), wanted, strict=True):
        if name is not None and wanted.count(name) == 1:
            operation["operationId"] = name
    return spec


def _singular_pascal(name: str) -> str:
    pascal = _pascal_case(name)
    return pascal[:-1] if pascal.endswith("s") and not pascal.endswith("ss") else pascal


def _ref(name: str) -> str:
    return f"#/components/schemas/{name}"


def open_discriminated_unions(spec: Spec) -> Spec:
    """Add a catch-all member to each discriminated ``oneOf`` inside a component's property.

    Podero says new ``actions[].code`` values will appear. The catch-all (for ``actions``:
    ``UnknownAction``) has only the discriminator property and keeps every other field in
    ``additional_properties``; the union template dispatches on the discriminator and falls
    back to it. A union that already has its catch-all is left alone.
    """
    spec = copy.deepcopy(spec)
    schemas: dict[str, Any] = spec.get("components", {}).get("schemas", {})
    added: dict[str, Any] = {}
    for schema in list(schemas.values()):
        for prop_name, prop in sorted(schema.get("properties", {}).items()):
            union = prop.get("items", prop) if isinstance(prop, dict) else None
            if not isinstance(union, dict) or not isinstance(union.get("discriminator"), dict):
                continue
            members = union.get("oneOf") or union.get("anyOf")
            if not members:
                continue
            name = f"Unknown{_singular_pascal(prop_name)}"
            while (name in schemas or name in added) and {"$ref": _ref(name)} not in members:
                name += "_"  # a real schema of that name exists already
            if {"$ref": _ref(name)} in members:
                continue
            discriminator = union["discriminator"]["propertyName"]
            added[name] = {
                "title": name,
                "description": f"A `{prop_name}` item whose `{discriminator}` this client does not know yet.",
                "type": "object",
                "properties": {discriminator: {"title": _pascal_case(discriminator), "type": "string"}},
                "required": [discriminator],
                "additionalProperties": True,
            }
            members.append({"$ref": _ref(name)})
    schemas.update(added)
    return spec


RULES: tuple[Rule, ...] = (
    stringify_discriminator_mappings,
    dedupe_schema_titles,
    shorten_operation_ids,
    open_discriminated_unions,
)


def normalize(spec: Spec) -> Spec:
    """Apply every rule, in order."""
    for rule in RULES:
        spec = rule(spec)
    return spec
