"""The spec-driven part of the fake server: route matching, request validation and sample answers.

Every operation of an OpenAPI document is a route keyed ``"METHOD /path/template"``; a concrete
path (``/things/stats``) is matched before a templated one (``/things/{thing_id}``). A request
is validated with jsonschema (JSON Schema 2020-12, the dialect of OpenAPI 3.1) against the
operation's parameters (path-level ones and ``$ref``s included; an array query parameter from its
repeated or comma-separated values) and body (JSON and ``+json``, form and multipart); what does
not fit is a 422 in Django Ninja's shape, ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``.
The answer is the first documented 2xx status (``2XX`` is 200; an operation documented with
``default`` only answers 200 with that body) with a deterministic, schema-valid body in its
documented media type: the spec's example when it has one, else one built from the schema (see
``_openapi.Sampler``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qs, quote

import attrs
from jsonschema.exceptions import ValidationError, best_match

from .._errors import InvalidArgumentError
from ._openapi import Sampler, Validators, deref, json_media, located, operations, parameters, pointer

# Django Ninja (pydantic) error types for the jsonschema keywords that failed.
_NINJA_TYPES = {
    "required": "missing",
    "enum": "enum",
    "const": "literal_error",
    "additionalProperties": "extra_forbidden",
}
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"

Detail = dict[str, Any]


class Query(Protocol):
    """A request's query: aiohttp's ``request.query`` (a multidict) fits."""

    def get(self, key: str, /) -> str | None: ...
    def getall(self, key: str, default: list[str], /) -> list[str]: ...


class SampleAnswer(NamedTuple):
    status: int
    body: Any  # None: no content
    media_type: str = "application/json"


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


def _specificity(path: str) -> tuple[int, ...]:
    """Sorts concrete segments before templated ones, segment by segment: ``/a/stats`` before ``/a/{id}``."""
    return tuple(1 if "{" in segment else 0 for segment in path.split("/"))


class SpecRoutes:
    """The operations of one spec, with validation and sample answers."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = dict(spec)
        self._validator = Validators(self.spec)
        self._sampler = Sampler(self.spec)
        self.operations: dict[str, Operation] = {}
        for path, method, node in operations(self.spec):
            key = f"{method.upper()} {path}"
            names = tuple(re.findall(r"\{([^}/]+)\}", path))
            regex = re.sub(r"\\\{[^}/]+\\\}", "([^/]+)", re.escape(path))
            self.operations[key] = Operation(
                key, method.upper(), path, re.compile(f"^{regex}$"), node, pointer("paths", path, method), names
            )
        self._matching = sorted(self.operations.values(), key=lambda operation: _specificity(operation.path))
        self._answers: dict[str, SampleAnswer] = {}

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
        for operation in self._matching:
            if operation.method == method and (found := operation.pattern.match(path)):
                return operation, dict(zip(operation.parameters, found.groups(), strict=True))
        return None

    def allowed_methods(self, path: str) -> list[str]:
        return [op.method for op in self.operations.values() if op.pattern.match(path)]

    def requires_auth(self, operation: Operation) -> bool:
        security = operation.node.get("security", self.spec.get("security"))
        return bool(security)

    def validate(
        self,
        operation: Operation,
        path_params: Mapping[str, str],
        query: Query | Mapping[str, str],
        body: bytes | None,
        content_type: str = "application/json",
    ) -> list[Detail]:
        """Ninja's ``detail`` list for what in the request does not fit the spec (empty when it all fits)."""
        details: list[Detail] = []
        for at, parameter in parameters(self.spec, operation.path, operation.method.lower()):
            where, name = parameter.get("in"), parameter.get("name")
            if where not in ("path", "query") or not isinstance(name, str):
                continue  # header and cookie parameters are not checked
            raw = path_params.get(name) if where == "path" else query.get(name)
            if raw is None:
                if parameter.get("required"):
                    details.append({"type": "missing", "loc": [where, name], "msg": "Field required"})
                continue
            if "schema" in parameter:
                values = _all(query, name) if where == "query" else [raw]
                details.extend(self._check_parameter(parameter, f"{at}/schema", [where, name], values))
        at, request_body = located(self.spec, operation.node.get("requestBody"), f"{operation.pointer}/requestBody")
        if isinstance(request_body, dict):
            details.extend(self._check_body(at, request_body, body, content_type))
        return details

    def _check_parameter(self, parameter: dict[str, Any], at: str, loc: list[str], values: list[str]) -> list[Detail]:
        """A query or path value is text: the first reading of it that the schema accepts wins.

        An array takes each repeated value (``explode``, the default) or the comma-separated parts of one.
        """
        at, schema = located(self.spec, parameter["schema"], at)
        if isinstance(schema, dict) and schema.get("type") == "array":
            if parameter.get("explode") is False:
                values = [part for value in values for part in value.split(",")]
            items = [self._reading(f"{at}/items", value) for value in values]
            errors = list(self._validator(at).iter_errors(items))
            return [_ninja_detail(_best(errors), loc)] if errors else []
        validator = self._validator(at)
        errors = list(validator.iter_errors(values[0]))
        if not errors or validator.is_valid(self._reading(at, values[0])):
            return []
        return [_ninja_detail(_best(errors), loc)]

    def _reading(self, at: str, raw: str) -> Any:
        """``raw`` as the first of its readings (text, number, boolean) that the schema at ``at`` accepts."""
        validator = self._validator(at)
        return next((value for value in (raw, *_readings(raw)) if validator.is_valid(value)), raw)

    def _check_body(self, at: str, request_body: dict[str, Any], body: bytes | None, content_type: str) -> list[Detail]:
        if not body:
            if request_body.get("required"):
                return [{"type": "missing", "loc": ["body"], "msg": "Field required"}]
            return []
        content = request_body.get("content")
        content = content if isinstance(content, dict) else {}
        essence = (content_type or "application/json").split(";", 1)[0].strip().lower()  # none sent: JSON
        media_type = next((key for key in content if key.lower() == essence), None)
        if media_type is None and json_media({essence: {}}) is not None:
            media_type = next(iter(json_media(content) or ()), None)
        if content and media_type is None:
            expected = ", ".join(content)
            return [{"type": "content_type", "loc": ["body"], "msg": f"Content-Type {essence} is not {expected}"}]
        media = content.get(media_type) if media_type else None
        if media_type is None or not isinstance(media, dict) or "schema" not in media:
            return []
        schema_at = f"{at}/content/{media_type.replace('~', '~0').replace('/', '~1')}/schema"
        if essence in (_FORM, _MULTIPART):
            return self._check_fields(schema_at, body, essence, content_type)
        try:
            data = json.loads(body)
        except ValueError:
            return [{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"}]
        return [_ninja_detail(error, ["body"]) for error in self._validator(schema_at).iter_errors(data)]

    def _check_fields(self, at: str, body: bytes, essence: str, content_type: str) -> list[Detail]:
        """A form or multipart body: every required field is there (their values are text or files)."""
        schema = deref(self.spec, {"$ref": at})
        required = schema.get("required", []) if isinstance(schema, dict) else []
        if essence == _FORM:
            try:
                names = set(parse_qs(body.decode(), keep_blank_values=True))
            except UnicodeDecodeError:
                return [{"type": "form_invalid", "loc": ["body"], "msg": "Form decode error"}]
        else:
            boundary = re.search(r'boundary="?([^";]+)"?', content_type)
            if boundary is None:
                return [{"type": "multipart_invalid", "loc": ["body"], "msg": "multipart body without a boundary"}]
            names = {match.decode(errors="replace") for match in re.findall(rb'name="([^"]*)"', body)}
        return [
            {"type": "missing", "loc": ["body", name], "msg": "Field required"}
            for name in required
            if isinstance(name, str) and name not in names
        ]

    def answer(self, operation: Operation) -> SampleAnswer:
        """The first documented 2xx status and a body for it (``None`` when it has no content), built once."""
        answer = self._answers.get(operation.key)
        if answer is None:
            answer = self._answers[operation.key] = self._build_answer(operation)
        return answer

    def _build_answer(self, operation: Operation) -> SampleAnswer:
        responses = operation.node.get("responses")
        responses = responses if isinstance(responses, dict) else {}
        statuses = sorted(code for code in map(str, responses) if code.isdigit() and 200 <= int(code) <= 299)
        documented = statuses[0] if statuses else next((c for c in ("2XX", "2xx", "default") if c in responses), None)
        if documented is None:
            return SampleAnswer(200, None)
        status = int(documented) if documented.isdigit() else 200
        response = deref(self.spec, responses[documented])
        found = json_media(response.get("content")) if isinstance(response, dict) else None
        if found is None or status == 204:
            return SampleAnswer(status, None)
        media_type, media = found
        if "example" in media:
            return SampleAnswer(status, media["example"], media_type)
        examples = media.get("examples")
        if isinstance(examples, dict) and examples:
            first = deref(self.spec, next(iter(examples.values())))
            if isinstance(first, dict) and "value" in first:
                return SampleAnswer(status, first["value"], media_type)
        return SampleAnswer(status, self.sample(media.get("schema", {})), media_type)

    def sample(self, schema: Any, name: str = "") -> Any:
        """A deterministic value that fits ``schema`` (see ``_openapi.Sampler.sample``)."""
        return self._sampler.sample(schema, name)

    def path_for(self, operation: Operation, **params: str) -> str:
        """The operation's path with its parameters filled in (quoted)."""
        return re.sub(r"\{([^}/]+)\}", lambda m: quote(str(params[m.group(1)]), safe=""), operation.path)

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.operations.values())


def _all(query: Query | Mapping[str, str], name: str) -> list[str]:
    """Every value of a repeated query parameter."""
    if hasattr(query, "getall"):
        return list(query.getall(name, []))
    value = query.get(name)
    return [] if value is None else [value]


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
