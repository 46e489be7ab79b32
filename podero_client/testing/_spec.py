"""The spec-driven part of the fake server: route matching, request validation and sample answers.

Every operation of an OpenAPI document is a route keyed ``"METHOD /path/template"``. A request
is validated with jsonschema (JSON Schema 2020-12, the dialect of OpenAPI 3.1) against the
operation's parameters and body; what does not fit is a 422 in Django Ninja's shape,
``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``. The answer is the first documented
2xx status with a deterministic, schema-valid body: the spec's example when it has one, else
one built from the schema (every property, the first branch of a union, the first enum value).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import attrs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import UndefinedTypeCheck, ValidationError, best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from .._errors import InvalidArgumentError

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_SPEC_URI = "urn:podero-fake-spec"
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
# Django Ninja (pydantic) error types for the jsonschema keywords that failed.
_NINJA_TYPES = {
    "required": "missing",
    "enum": "enum",
    "const": "literal_error",
    "additionalProperties": "extra_forbidden",
}

Detail = dict[str, Any]
# Bounds of a sample answer: full to this depth, minimal past it or past this many values.
_FULL_DEPTH = 6
_SAMPLE_NODES = 2_000
_MAX_DEPTH = 24


def packaged_spec() -> dict[str, Any]:
    """The spec this release of podero-client was generated from (shipped inside the package)."""
    text = resources.files("podero_client").joinpath("openapi.json").read_text(encoding="utf-8")
    spec: dict[str, Any] = json.loads(text)
    return spec


def load_spec(spec: Mapping[str, Any] | str | Path | None) -> dict[str, Any]:
    """A spec given as a mapping, or a path to a JSON file; None is the packaged spec."""
    if spec is None:
        return packaged_spec()
    if isinstance(spec, str | Path):
        if not Path(spec).is_file():  # one line naming the path, not a bare FileNotFoundError
            where = Path(spec).absolute()
            raise InvalidArgumentError(f"spec: no such file: {spec} (looked for {where}); give an OpenAPI JSON file")
        loaded = json.loads(Path(spec).read_text(encoding="utf-8"))  # OSError, or ValueError when not JSON
        if not isinstance(loaded, dict):
            raise ValueError(f"{spec} holds a JSON {type(loaded).__name__}, not an OpenAPI object")
        return loaded
    return dict(spec)


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


_ABSENT = object()
_TYPES = Draft202012Validator.TYPE_CHECKER


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


@attrs.frozen
class Operation:
    """One operation of the spec: its route key, how to match its path, and its spec node."""

    key: str  # "POST /api/partners/v2.0/org/{org_id}/users/{user_id}/wallboxes/{wallbox_id}/boost"
    method: str
    path: str
    pattern: re.Pattern[str]
    node: dict[str, Any] = attrs.field(repr=False)
    pointer: str  # JSON pointer of ``node`` in the spec
    # The path's parameter names in order: regex groups cannot be named ``meter-id``.
    parameters: tuple[str, ...] = ()

    @property
    def operation_id(self) -> str | None:
        value = self.node.get("operationId")
        return value if isinstance(value, str) else None


class SpecRoutes:
    """The operations of one spec, with validation and sample answers."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = dict(spec)
        self._registry: Registry[Any] = Registry().with_resource(_SPEC_URI, DRAFT202012.create_resource(self.spec))
        self._validators: dict[str, Draft202012Validator] = {}
        self.operations: dict[str, Operation] = {}
        for path, item in self.spec.get("paths", {}).items():
            for method in _METHODS:
                node = item.get(method) if isinstance(item, dict) else None
                if isinstance(node, dict):
                    key = f"{method.upper()} {path}"
                    names = tuple(re.findall(r"\{([^}/]+)\}", path))
                    regex = re.sub(r"\\\{[^}/]+\\\}", "([^/]+)", re.escape(path))
                    pointer = _pointer("paths", path, method)
                    self.operations[key] = Operation(
                        key, method.upper(), path, re.compile(f"^{regex}$"), node, pointer, names
                    )
        self._answers: dict[str, tuple[int, Any]] = {}
        self._built = 0  # values built by the current sample() call

    def key(self, route: str) -> str:
        """The route key for ``"METHOD /path/template"`` or an operationId; KeyError if the spec has neither."""
        if route in self.operations:
            return route
        for operation in self.operations.values():
            if operation.operation_id == route:
                return operation.key
        raise KeyError(f"no operation {route!r} in the spec: give 'METHOD /path/template' or an operationId")

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation for a request and its raw path parameters, or None."""
        for operation in self.operations.values():
            if operation.method == method and (found := operation.pattern.match(path)):
                return operation, dict(zip(operation.parameters, found.groups(), strict=True))
        return None

    def allowed_methods(self, path: str) -> list[str]:
        return [op.method for op in self.operations.values() if op.pattern.match(path)]

    def requires_auth(self, operation: Operation) -> bool:
        security = operation.node.get("security", self.spec.get("security"))
        return bool(security)

    def _validator(self, pointer: str) -> Draft202012Validator:
        validator = self._validators.get(pointer)
        if validator is None:
            validator = Draft202012Validator(
                {"$ref": _SPEC_URI + pointer},
                registry=self._registry,
                format_checker=Draft202012Validator.FORMAT_CHECKER,
            )
            self._validators[pointer] = validator
        return validator

    def validate(
        self, operation: Operation, path_params: Mapping[str, str], query: Mapping[str, str], body: bytes | None
    ) -> list[Detail]:
        """Ninja's ``detail`` list for what in the request does not fit the spec (empty when it all fits)."""
        details: list[Detail] = []
        given = {"path": path_params, "query": query}
        for index, parameter in enumerate(operation.node.get("parameters", [])):
            where, name = parameter.get("in"), parameter.get("name")
            if where not in given or not isinstance(name, str):
                continue  # header and cookie parameters are not checked
            raw = given[where].get(name)
            if raw is None:
                if parameter.get("required"):
                    details.append({"type": "missing", "loc": [where, name], "msg": "Field required"})
                continue
            if "schema" in parameter:
                pointer = f"{operation.pointer}/parameters/{index}/schema"
                details.extend(self._check_parameter(pointer, where, name, raw))
        request_body = operation.node.get("requestBody")
        if isinstance(request_body, dict):
            details.extend(self._check_body(operation, request_body, body))
        return details

    def _check_parameter(self, pointer: str, where: str, name: str, raw: str) -> list[Detail]:
        """A query or path value is text: the first reading of it that the schema accepts wins."""
        validator = self._validator(pointer)
        errors = list(validator.iter_errors(raw))
        if not errors:
            return []
        for candidate in _readings(raw):
            if not any(True for _ in validator.iter_errors(candidate)):
                return []
        return [_ninja_detail(_best(errors), [where, name])]

    def _check_body(self, operation: Operation, request_body: dict[str, Any], body: bytes | None) -> list[Detail]:
        if not body:
            if request_body.get("required"):
                return [{"type": "missing", "loc": ["body"], "msg": "Field required"}]
            return []
        try:
            data = json.loads(body)
        except ValueError:
            return [{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"}]
        content = request_body.get("content", {})
        if "application/json" not in content or "schema" not in content["application/json"]:
            return []
        pointer = f"{operation.pointer}/requestBody/content/application~1json/schema"
        return [_ninja_detail(error, ["body"]) for error in self._validator(pointer).iter_errors(data)]

    def answer(self, operation: Operation) -> tuple[int, Any]:
        """The first documented 2xx status and a body for it (``None`` when it has no content), built once."""
        answer = self._answers.get(operation.key)
        if answer is None:
            answer = self._answers[operation.key] = self._build_answer(operation)
        return answer

    def _build_answer(self, operation: Operation) -> tuple[int, Any]:
        responses = operation.node.get("responses", {})
        statuses = sorted(code for code in responses if str(code).isdigit() and 200 <= int(code) <= 299)
        if not statuses:
            return 200, None
        status = statuses[0]
        response = self._resolve(responses[status])
        media = response.get("content", {}).get("application/json") if isinstance(response, dict) else None
        if not isinstance(media, dict) or int(status) == 204:
            return int(status), None
        if "example" in media:
            return int(status), media["example"]
        examples = media.get("examples")
        if isinstance(examples, dict) and examples:
            first = self._resolve(next(iter(examples.values())))
            if isinstance(first, dict) and "value" in first:
                return int(status), first["value"]
        return int(status), self.sample(media.get("schema", {}))

    def _resolve(self, node: Any, depth: int = 0) -> Any:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and depth < 32:
            node = self._registry.resolver(_SPEC_URI).lookup(_SPEC_URI + node["$ref"]).contents
            depth += 1
        return node

    def sample(self, schema: Any, name: str = "", depth: int = 0) -> Any:
        """A deterministic value that fits ``schema``: examples first, then built from the schema.

        Bounded for recursive schemas: past ``_FULL_DEPTH`` levels, or once ``_SAMPLE_NODES``
        values are built, an object gets its required properties only, an array its
        ``minItems`` items, and a nullable union ``None``; nothing goes past ``_MAX_DEPTH``.
        """
        if depth == 0:
            self._built = 0
        self._built += 1
        schema = self._resolve(schema)
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
                branches = [self._resolve(branch) for branch in schema[union]]
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

    def path_for(self, operation: Operation, **params: str) -> str:
        """The operation's path with its parameters filled in (quoted)."""
        return re.sub(r"\{([^}/]+)\}", lambda m: quote(str(params[m.group(1)]), safe=""), operation.path)

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.operations.values())


def _readings(raw: str) -> Iterator[Any]:
    """Other ways to read a text parameter: as a number, as a boolean."""
    for convert in (int, float):
        try:
            value: Any = convert(raw)
        except ValueError:
            continue
        yield value
    lowered = raw.lower()
    if lowered in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        yield lowered in ("true", "1", "yes", "on")


def _best(errors: list[ValidationError]) -> ValidationError:
    return best_match(errors) or errors[0]


def _ninja_detail(error: ValidationError, location: list[str]) -> Detail:
    loc: list[Any] = [*location, *error.absolute_path]
    kind = _NINJA_TYPES.get(str(error.validator), str(error.validator))
    required = error.validator_value
    if error.validator == "required" and isinstance(error.instance, dict) and isinstance(required, list):
        missing = [key for key in required if key not in error.instance]
        loc.extend(missing[:1])
        return {"type": "missing", "loc": loc, "msg": "Field required"}
    if error.validator == "format":
        kind = f"{str(error.validator_value).replace('-', '_')}_parsing"
    elif error.validator == "type":
        kind = f"{error.validator_value}_type" if isinstance(error.validator_value, str) else "type_error"
    return {"type": kind, "loc": loc, "msg": error.message}
