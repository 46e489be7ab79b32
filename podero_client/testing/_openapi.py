"""One reading of an OpenAPI document, shared by the fake server and the regeneration pipeline.

One set of ``$ref`` rules (local JSON pointers, percent-decoded, then ``~1``/``~0`` unescaped),
one identity of an operation (method and path shape; the lock's key), one schema sampler.
This module imports nothing from podero_client: scripts/openapi_toolkit.py loads it by path,
so the pipeline never imports the package it is about to regenerate.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import UndefinedTypeCheck
from referencing import Registry
from referencing.jsonschema import DRAFT202012

Spec = dict[str, Any]
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PATH_PARAMETER = re.compile(r"\{([^}]*)\}")
_MAX_REF_HOPS = 32


def pointer(*parts: str) -> str:
    """The local JSON pointer (``#/...``) of a place given as its keys."""
    return "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def resolve(document: Any, ref: str) -> Any:
    """The node a local ``#/...`` reference points to; ``KeyError`` when there is none.

    The reference is a URI fragment: percent-decoded first, then each part JSON-pointer
    unescaped (``~1`` is ``/``, ``~0`` is ``~``), as RFC 6901 says and as jsonschema reads it.
    """
    if not ref.startswith("#"):
        raise KeyError(ref)
    node: Any = document
    for raw in unquote(ref[1:]).split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(ref)
    return node


def deref(document: Any, node: Any) -> Any:
    """``node`` with its ``$ref`` chain followed (to a bounded depth); a dangling one gives None."""
    return located(document, node, "")[1]


def located(document: Any, node: Any, where: str) -> tuple[str, Any]:
    """``(pointer, node)`` after following ``node``'s ``$ref`` chain from the place ``where``."""
    for _ in range(_MAX_REF_HOPS):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return where, node
        where = node["$ref"]
        try:
            node = resolve(document, where)
        except KeyError:
            return where, None
    return where, node


def operations(spec: Spec) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(path, method, operation)`` for every operation, in document order."""
    paths = spec.get("paths")
    for path, item in paths.items() if isinstance(paths, dict) else ():
        for method in METHODS:
            if isinstance(item, dict) and isinstance(item.get(method), dict):
                yield path, method, item[method]


def path_shape(path: str) -> str:
    """A path with its parameter names blanked: the generator rewrites them (``{a-b}`` -> ``{a_b}``)."""
    return _PATH_PARAMETER.sub("{}", path)


def path_parameter_names(path: str) -> tuple[str, ...]:
    return tuple(_PATH_PARAMETER.findall(path))


def operation_identity(method: str, path: str) -> tuple[str, str]:
    """How the generated code and the spec recognise one operation: ``(METHOD, path shape)``."""
    return method.upper(), path_shape(path)


def operation_key(path: str, method: str, operation: dict[str, Any]) -> str:
    """What the name lock knows an operation by: its operationId, else ``METHOD path``."""
    operation_id = operation.get("operationId")
    return operation_id if isinstance(operation_id, str) and operation_id else f"{method.upper()} {path}"


def first_tag(operation: dict[str, Any]) -> str:
    """An operation's first tag as the spec writes it ("default" without one)."""
    tags = operation.get("tags") or ["default"]
    return str(tags[0])


def parameters(spec: Spec, path: str, method: str) -> list[tuple[str, dict[str, Any]]]:
    """An operation's parameters with their pointers, resolved, path-level ones included.

    An operation's own parameter replaces a path-level one of the same ``(in, name)``.
    """
    item = spec.get("paths", {}).get(path, {})
    found: dict[tuple[Any, Any], tuple[str, dict[str, Any]]] = {}
    for level, where in ((item.get("parameters"), (path,)), (item.get(method, {}).get("parameters"), (path, method))):
        for index, parameter in enumerate(level if isinstance(level, list) else []):
            at, parameter = located(spec, parameter, pointer("paths", *where, "parameters", str(index)))
            if isinstance(parameter, dict):
                found[(parameter.get("in"), parameter.get("name"))] = at, parameter
    return list(found.values())


class Validators:
    """jsonschema validators (2020-12, the dialect of OpenAPI 3.1) for the schemas of one spec, by pointer."""

    _URI = "urn:podero-openapi-spec"

    def __init__(self, spec: Spec) -> None:
        self._registry: Registry[Any] = Registry().with_resource(self._URI, DRAFT202012.create_resource(spec))
        self._validators: dict[str, Draft202012Validator] = {}

    def __call__(self, at: str) -> Draft202012Validator:
        """The validator of the schema at the local pointer ``at``, made once."""
        validator = self._validators.get(at)
        if validator is None:
            validator = Draft202012Validator(
                {"$ref": self._URI + at}, registry=self._registry, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            self._validators[at] = validator
        return validator


def is_json(media_type: str) -> bool:
    """``application/json`` and its structured-suffix kin (``application/vnd.api+json``)."""
    essence = media_type.split(";", 1)[0].strip().lower()
    return essence == "application/json" or (essence.startswith("application/") and essence.endswith("+json"))


def json_media(content: Any) -> tuple[str, dict[str, Any]] | None:
    """The first JSON media type of a ``content`` map and its media object, or None."""
    if isinstance(content, dict):
        for media_type, media in content.items():
            if isinstance(media_type, str) and is_json(media_type) and isinstance(media, dict):
                return media_type, media
    return None


_ABSENT = object()
_TYPES = Draft202012Validator.TYPE_CHECKER
# A fixed namespace: the same spec gives the same sample ids on every run.
_SAMPLE_NAMESPACE = uuid.UUID("0b6c9a52-3f7e-4d21-9a8e-5c4d3b2a1f00")
_SAMPLE_STRINGS = {
    "date-time": "2026-01-01T08:00:00Z",
    "date": "2026-01-01",
    "time": "08:00:00",
    "email": "partner@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
}
# Bounds of a sample: full to this depth, minimal past it or past this many values.
_FULL_DEPTH = 6
_SAMPLE_NODES = 2_000
_MAX_DEPTH = 24


def _fits_type(value: Any, kind: Any) -> bool:
    """``value`` is of the JSON type ``kind`` names (a name or a list of names); any value fits no type."""
    if kind is None:
        return True
    for name in kind if isinstance(kind, list) else [kind]:
        try:
            if not isinstance(name, str) or _TYPES.is_type(value, name):
                return True
        except UndefinedTypeCheck:  # a type name JSON Schema does not have: not ours to judge
            return True
    return False


class Sampler:
    """Deterministic, schema-valid values for the schemas of one spec."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._built = 0  # values built by the current sample() call

    def sample(self, schema: Any, name: str = "", depth: int = 0) -> Any:
        """A deterministic value that fits ``schema``: examples first, then built from the schema.

        Bounded for recursive schemas: past ``_FULL_DEPTH`` levels, or once ``_SAMPLE_NODES``
        values are built, an object gets its required properties only, an array its
        ``minItems`` items, and a nullable union ``None``; nothing goes past ``_MAX_DEPTH``.
        """
        if depth == 0:
            self._built = 0
        self._built += 1
        schema = deref(self.spec, schema)
        if not isinstance(schema, dict) or depth > _MAX_DEPTH or self._built > 10 * _SAMPLE_NODES:
            return None
        for keyword in ("const", "example", "default"):
            # An example or default of another type than its schema's is the spec's slip: built instead.
            value = schema.get(keyword, _ABSENT)
            if value is _ABSENT or not _fits_type(value, schema.get("type")):
                continue
            if not (keyword == "default" and value is None and "anyOf" in schema):
                return value
        if isinstance(schema.get("examples"), list) and schema["examples"]:
            return schema["examples"][0]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        for union in ("oneOf", "anyOf"):
            if isinstance(schema.get(union), list) and schema[union]:
                branches = [deref(self.spec, branch) for branch in schema[union]]
                null = next((b for b in branches if isinstance(b, dict) and b.get("type") == "null"), None)
                if null is not None and self._minimal(depth):
                    return None
                chosen = next((b for b in branches if isinstance(b, dict) and b.get("type") != "null"), branches[0])
                return self.sample(chosen, name, depth + 1)
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {}
            values = [self.sample(part, name, depth + 1) for part in schema["allOf"]]
            for value in values:
                if isinstance(value, dict):
                    merged.update(value)
            if not merged and any(value is not None and not isinstance(value, dict) for value in values):
                return next(value for value in values if value is not None)  # allOf [an enum]: a scalar
            return merged
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object" or (kind is None and "properties" in schema):
            return self._sample_object(schema, depth)
        if kind == "array":
            count = schema.get("minItems", 0 if self._minimal(depth) else 1)
            return [self.sample(schema.get("items", {}), name, depth + 1) for _ in range(min(int(count), 100))]
        if kind == "string":
            return self._sample_string(schema, name)
        if kind == "integer":
            return int(schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1))
        if kind == "number":
            return float(schema.get("minimum", 0))
        if kind == "boolean":
            return False
        return None

    def _sample_object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties", {})
        if self._minimal(depth):
            required = schema.get("required", [])
            properties = {key: sub for key, sub in properties.items() if key in required}
        value = {key: self.sample(sub, key, depth + 1) for key, sub in properties.items()}
        # A page answers its own items consistently: {total|count: len(items), items: [...]}.
        if isinstance(value.get("items"), list):
            for counter in ("total", "count"):
                if isinstance(value.get(counter), int):
                    value[counter] = len(value["items"])
        return value

    def _minimal(self, depth: int) -> bool:
        return depth >= _FULL_DEPTH or self._built >= _SAMPLE_NODES

    def _sample_string(self, schema: dict[str, Any], name: str) -> str:
        fmt = schema.get("format")
        if fmt == "uuid":
            return str(uuid.uuid5(_SAMPLE_NAMESPACE, name or "id"))
        if isinstance(fmt, str) and fmt in _SAMPLE_STRINGS:
            return _SAMPLE_STRINGS[fmt]
        text = name or "string"
        minimum, maximum = schema.get("minLength", 0), schema.get("maxLength")
        text = text.ljust(minimum, "x")
        return text[:maximum] if isinstance(maximum, int) else text
