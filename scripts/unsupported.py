"""What the templates cannot generate right, refused with one line before anything is generated.

Each is a spec the generator accepts and turns into code that compiles but is wrong:

* a query parameter in another style than ``form``, exploded (``explode: false``,
  ``deepObject``, ``spaceDelimited``, ``pipeDelimited``): it would be sent in the default style;
* a ``format: binary`` property in a JSON request body: JSON cannot carry the file;
* a discriminated union whose member declares the discriminator as a plain string (no
  ``const``) anywhere but last: the union template dispatches on the members' ``const``, and
  would parse every later member's payload as that one;
* an operation that documents only a ``default`` answer: the generated code would raise on
  every 2xx and never parse an error body onto the error.

Two operations whose methods would share a name in one resource class (``iter_list_items``
beside the page iterator of ``list_items``) are found in the generated code: ``duplicate_methods``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from openapi_toolkit import toolkit


class UnsupportedError(Exception):
    """A spec the templates cannot generate right, with a one-line cause."""


def check(spec: dict[str, Any]) -> None:
    """Raise ``UnsupportedError`` naming the first thing in ``spec`` (normalized) the templates cannot honour."""
    for problem in _problems(spec):
        raise UnsupportedError(problem)


def _problems(spec: dict[str, Any]) -> Iterator[str]:
    for path, method, operation in toolkit.operations(spec):
        where = f"operation {method.upper()} {path}"
        if isinstance(operation.get("operationId"), str):
            where += f" ({operation['operationId']})"
        for _, parameter in toolkit.parameters(spec, path, method):
            if parameter.get("in") != "query":
                continue
            style = parameter.get("style", "form")
            if style != "form" or parameter.get("explode", True) is not True:
                yield (
                    f"{where}: query parameter {parameter.get('name')!r} has style {style!r}"
                    f"{', explode false' if parameter.get('explode') is False else ''}; the generated code sends"
                    " only the default style (form, exploded)"
                )
        body = toolkit.deref(spec, operation.get("requestBody"))
        found = toolkit.json_media(body.get("content")) if isinstance(body, dict) else None
        if found is not None and (binary := _binary_property(spec, found[1].get("schema"), set())):
            yield (
                f"{where}: its JSON request body has a binary property ({binary}) JSON cannot carry;"
                " describe the body as multipart/form-data"
            )
        responses = operation.get("responses")
        if isinstance(responses, dict) and responses and set(map(str, responses)) == {"default"}:
            yield (
                f"{where}: documents only a 'default' answer; the generated code would raise on every 2xx."
                " Document its success status (200, 201, 2XX...)"
            )
    yield from _undispatchable_unions(spec)


def _binary_property(spec: dict[str, Any], schema: Any, seen: set[int], name: str = "") -> str | None:
    """The name of the first ``format: binary`` property inside ``schema`` (through refs), or None."""
    schema = toolkit.deref(spec, schema)
    if not isinstance(schema, dict) or id(schema) in seen:
        return None
    seen.add(id(schema))
    if schema.get("format") == "binary":
        return name or "the body itself"
    properties = schema.get("properties")
    for key, sub in properties.items() if isinstance(properties, dict) else ():
        if found := _binary_property(spec, sub, seen, str(key)):
            return found
    for keyword in ("items", "additionalProperties"):
        if found := _binary_property(spec, schema.get(keyword), seen, name):
            return found
    for keyword in ("allOf", "oneOf", "anyOf"):
        members = schema.get(keyword)
        for member in members if isinstance(members, list) else ():
            if found := _binary_property(spec, member, seen, name):
                return found
    return None


def _undispatchable_unions(spec: dict[str, Any]) -> Iterator[str]:
    pending: list[tuple[tuple[str, ...], Any]] = [((), spec)]
    while pending:
        parts, node = pending.pop()
        where = toolkit.pointer(*parts)
        if isinstance(node, list):
            pending.extend(((*parts, str(index)), item) for index, item in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        pending.extend(((*parts, str(key)), value) for key, value in node.items() if key not in ("example", "examples"))
        discriminator = node.get("discriminator")
        members = node.get("oneOf") or node.get("anyOf")
        if not isinstance(discriminator, dict) or not isinstance(members, list):
            continue
        field = discriminator.get("propertyName")
        for index, member in enumerate(members[:-1]):  # the last may be the catch-all
            target = toolkit.deref(spec, member)
            properties = target.get("properties") if isinstance(target, dict) else None
            declared = toolkit.deref(spec, properties.get(field)) if isinstance(properties, dict) else None
            if isinstance(declared, dict) and "const" not in declared:
                label = member.get("$ref", f"member {index + 1}") if isinstance(member, dict) else f"member {index + 1}"
                yield (
                    f"the union at {where}: its member {label} declares the discriminator {field!r} as a plain"
                    " string, not a const, and is not the last member: every later member's payload would"
                    " parse as it. Give it a const (or move it last, as the catch-all)"
                )
                break


def duplicate_methods(package: Path) -> list[str]:
    """``Class.method`` defined twice in a generated resource class (the later one would replace the earlier)."""
    found: list[str] = []
    for file in sorted((package / "api").glob("*/__init__.py")):
        for node in ast.parse(file.read_text()).body:
            if isinstance(node, ast.ClassDef):
                seen: set[str] = set()
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        if item.name in seen:
                            found.append(f"{node.name}.{item.name}")
                        seen.add(item.name)
    return found
