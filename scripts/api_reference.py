"""Write docs/api.md, the API reference, from the spec and the generated code.

Every resource (one per tag) and method with its signature and return type, every
operation of the spec and the method that calls it, every model with its fields (title,
description, unit and default from the spec, Python type from the generated class), every
enum with its values, and every error class. ``make generate`` and ``make update-spec`` run
it after ``scripts/regenerate.py``; ``--check`` (``make check-docs``) fails when the
committed file is stale.

    python scripts/api_reference.py [--check] [--package NAME --spec FILE --output FILE]
"""

from __future__ import annotations

import argparse
import enum
import importlib
import inspect
import json
import re
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from normalize import normalize, operations

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi.json"
OUTPUT = ROOT / "docs" / "api.md"

# (pattern on the field name or title, unit); the first match wins.
UNITS = [
    (re.compile(r"_kwh$"), "kWh"),
    (re.compile(r"_wh$"), "Wh"),
    (re.compile(r"_w$|in Watts|\(W\)"), "W"),
    (re.compile(r"_amps$"), "A"),
    (re.compile(r"in seconds"), "s"),
    (re.compile(r"_(at|since|until)$"), "date-time"),
]
# "podero_client._generated.models.owner_output.OwnerOutput" -> "OwnerOutput"; httpx keeps its prefix.
_MODULE_PREFIX = re.compile(r"\b(?!httpx\.)(?:[a-z_][a-z0-9_]*\.)+(?=[A-Z_])")
_OPERATION_IN_DOCSTRING = re.compile(r"\((GET|PUT|POST|DELETE|PATCH|HEAD|OPTIONS|TRACE) ``([^`]+)``\)")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _type(annotation: Any) -> str:
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    return _MODULE_PREFIX.sub("", text)


def _signature(function: Callable[..., Any], name: str, *, drop_self: bool = True, multiline: bool = False) -> str:
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    if drop_self and parameters and parameters[0].name in ("self", "cls"):
        parameters = parameters[1:]
    parts: list[str] = []
    keyword_only_marked = False
    for parameter in parameters:
        if parameter.kind is parameter.KEYWORD_ONLY and not keyword_only_marked:
            parts.append("*")
            keyword_only_marked = True
        if parameter.kind is parameter.VAR_POSITIONAL:
            keyword_only_marked = True
        kind = parameter.kind
        stars = "**" if kind is parameter.VAR_KEYWORD else "*" if kind is parameter.VAR_POSITIONAL else ""
        text = stars + parameter.name
        if parameter.annotation is not parameter.empty:
            text += f": {_type(parameter.annotation)}"
        if parameter.default is not parameter.empty:
            text += f" = {parameter.default!r}"
        parts.append(text)
    prefix = "async def " if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function) else "def "
    returns = "" if signature.return_annotation is signature.empty else f" -> {_type(signature.return_annotation)}"
    if multiline:
        return f"{prefix}{name}(\n" + "".join(f"    {part},\n" for part in parts) + f"){returns}"
    return f"{prefix}{name}({', '.join(parts)}){returns}"


def _first_line(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def _public_methods(cls: type, skip: set[str]) -> Iterator[tuple[str, Any]]:
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") or name in skip:
            continue
        function = member.__func__ if isinstance(member, classmethod | staticmethod) else member
        if inspect.isfunction(function) or inspect.ismethod(member):
            yield name, member


def _schema_index(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Component schemas by their squashed name, the way a generated class name squashes too."""
    schemas = spec.get("components", {}).get("schemas", {})
    index = {re.sub(r"[^a-z0-9]", "", str(schema.get("title", "")).lower()): schema for schema in schemas.values()}
    index.update({re.sub(r"[^a-z0-9]", "", key.lower()): schema for key, schema in schemas.items()})
    return index


def _unit(name: str, title: str) -> str:
    for pattern, unit in UNITS:
        if pattern.search(name) or pattern.search(title):
            return unit
    return ""


def _field_text(prop: dict[str, Any]) -> str:
    title = str(prop.get("title", ""))
    description = str(prop.get("description", ""))
    text = f"{title}: {description}" if title and description else title or description
    if not text:
        refs = [item["$ref"] for item in [prop, *prop.get("anyOf", []), *prop.get("allOf", [])] if "$ref" in item]
        text = f"See `{refs[0].rsplit('/', 1)[1]}`." if refs else ""
    return text


class Reference:
    """The reference of one package (``podero_client``, or a regenerated copy) and its spec."""

    def __init__(self, package: str, spec: dict[str, Any]) -> None:
        self.package = importlib.import_module(package)
        self.name = package
        self.spec = normalize(json.loads(json.dumps(spec)))
        self.models = importlib.import_module(f"{package}.models")
        self.api = importlib.import_module(f"{package}._generated.api")
        self.client_class = self.package.PoderoClient
        self.schemas = _schema_index(self.spec)
        # (METHOD, path) -> "podero.tag.method", filled by the resource section.
        self.methods: dict[tuple[str, str], str] = {}

    def render(self) -> str:
        resources = self._resources()  # first: it fills self.methods for the operations table
        return "\n".join(
            [
                self._header(),
                self._client(),
                resources,
                self._operations(),
                self._models(),
                self._errors(),
                self._other_names(),
            ]
        )

    def _header(self) -> str:
        info = self.spec.get("info", {})
        count = sum(1 for _ in operations(self.spec))
        return (
            "# API reference\n\n"
            f"Generated by `scripts/api_reference.py` from the spec ({info.get('title', 'OpenAPI')} "
            f"{info.get('version', '')}, {count} operation{'s' if count != 1 else ''}) and the generated code, "
            "by `make generate`; do not edit. It lists what the installed package has: after "
            "`make update-spec` brings more of the Partner API, more resources and models appear here.\n\n"
            "- Every method is `async`; path parameters are positional, query parameters and the body "
            "keyword-only. A uuid is a `uuid.UUID` or its canonical text.\n"
            "- `Unset` (the value `UNSET`) means the payload did not carry the field, `None` that it was null.\n"
            "- Errors: every method raises the classes of [Errors](#errors), never an httpx exception.\n"
        )

    def _client(self) -> str:
        cls = self.client_class
        lines = [
            "## `PoderoClient`\n",
            _first_line(cls) + "\n",
            "```text",
            _signature(cls.__init__, "PoderoClient", multiline=True).removeprefix("def ").removesuffix(" -> None"),
            "```\n",
            "| method | what it does |",
            "| --- | --- |",
        ]
        resource_names = set(getattr(self.api, "TAGS", ()))
        base_methods = {name for name, _ in _public_methods(self.api.Resources, set())}
        for name, member in _public_methods(cls, resource_names | base_methods):
            lines.append(f"| `{_cell(_signature(member, name))}` | {_cell(_first_line(member))} |")
        return "\n".join(lines) + "\n"

    def _resources(self) -> str:
        tags = list(getattr(self.api, "TAGS", ()))
        lines = [
            "## Resources\n",
            "One attribute of `PoderoClient` per tag of the spec; each method returns the parsed 2xx model "
            "(`None` for a response without content). `with_raw_response` on each resource has the same "
            "methods, returning an `APIResponse` (`.parsed`, `.status_code`, `.headers`, `.content`, `.text`).\n",
        ]
        hints = inspect.get_annotations(self.api.Resources)
        for tag in tags:
            cls = hints[tag]
            cls = cls if isinstance(cls, type) else getattr(self.api, str(cls))
            lines += [
                f"### `podero.{tag}` ({cls.__name__})\n",
                "| method | operation | summary |",
                "| --- | --- | --- |",
            ]
            for name, member in _public_methods(cls, {"with_raw_response"}):
                match = _OPERATION_IN_DOCSTRING.search(inspect.getdoc(member) or "")
                operation = ""
                summary = _first_line(member)
                if match:
                    method, path = match.groups()
                    operation = f"`{method} {path}`"
                    summary = self._summary(method, path) or summary.split(" (")[0]
                    self.methods.setdefault((method, path), f"podero.{tag}.{name}")
                lines.append(f"| `{_cell(_signature(member, name))}` | {operation} | {_cell(summary)} |")
            lines.append("")
        return "\n".join(lines)

    def _summary(self, method: str, path: str) -> str:
        node = self.spec.get("paths", {}).get(path, {}).get(method.lower(), {})
        return str(node.get("summary") or node.get("description") or "").strip()

    def _operations(self) -> str:
        lines = [
            "## Every operation of the spec\n",
            "| operation | method | summary |",
            "| --- | --- | --- |",
        ]
        for path, method, node in operations(self.spec):
            where = self.methods.get((method.upper(), path))
            tags = [str(tag) for tag in node.get("tags", [])]
            if where:
                cell = f"`{where}`"
            elif any("auth" in tag.lower() for tag in tags) or path.rstrip("/").endswith("/token"):
                cell = "none: the credentials request tokens themselves (cached and refreshed)"
            else:
                cell = "none"
            summary = str(node.get("summary") or "").strip()
            lines.append(f"| `{method.upper()} {path}` | {cell} | {_cell(summary)} |")
        return "\n".join(lines) + "\n"

    def _models(self) -> str:
        names = sorted(name for name in self.models.__all__ if name not in ("UNSET", "Unset"))
        classes = [getattr(self.models, name) for name in names]
        lines = [
            "## Models\n",
            "In `podero_client.models`. Each model has `from_dict()`, `to_dict()` and "
            "`additional_properties` (fields the spec did not have); each enum accepts values added after "
            "this client was generated (`.is_known` is then `False`). **Unit** is taken from the spec's words "
            "or the field's name. A JSON `number` is always a `float` at run time, so "
            "`isinstance(value, float)` narrows an optional number.\n",
        ]
        for cls in classes:
            if isinstance(cls, type) and issubclass(cls, enum.Enum):
                values = ", ".join(f"`{member.value}`" for member in cls)
                lines += [f"### `{cls.__name__}` (enum)\n", f"One of: {values}, and values added later.\n"]
            elif attrs.has(cls):
                lines += self._model(cls)
        return "\n".join(lines)

    def _model(self, cls: type) -> list[str]:
        schema = self.schemas.get(cls.__name__.lower(), {})
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        lines = [f"### `{cls.__name__}`\n"]
        description = str(schema.get("description", "")).strip()
        if description:
            lines.append(_cell(description) + "\n")
        lines += [
            "| field | Python type | required | default | unit | title and description |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for field in attrs.fields(cls):
            if field.name.lstrip("_") == "additional_properties":
                continue
            key = field.alias or field.name
            prop = properties.get(key) or properties.get(field.name.rstrip("_"), {})
            wire = prop and next((name for name in properties if properties[name] is prop), field.name)
            name = f"`{field.name}`" + (f" (`{wire}`)" if wire and wire != field.name else "")
            default = f"`{json.dumps(prop['default'])}`" if "default" in prop else ""
            text = _field_text(prop) if prop else ""
            unit = _unit(field.name, str(prop.get("title", ""))) if prop else ""
            is_required = "yes" if (wire or field.name) in required else ("no" if prop else "")
            row = [name, f"`{_type(field.type)}`", is_required, default, unit, text]
            lines.append("| " + " | ".join(_cell(cell) for cell in row) + " |")
        return [*lines, ""]

    def _errors(self) -> str:
        errors = self.package._errors
        lines = [
            "## Errors\n",
            "In `podero_client`. Catch `PoderoError` for all of them.\n",
            "```text",
            inspect.cleandoc((errors.__doc__ or "").split("\n\n")[1]) if "\n\n" in (errors.__doc__ or "") else "",
            "```\n",
            "| class | bases | status | what it means |",
            "| --- | --- | --- | --- |",
        ]
        statuses: dict[type, list[int]] = {}
        for status, cls in getattr(errors, "_STATUS_ERRORS", {}).items():
            statuses.setdefault(cls, []).append(status)
        for name in self.package.__all__:
            cls = getattr(self.package, name)
            if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                continue
            bases = ", ".join(f"`{base.__name__}`" for base in cls.__bases__)
            status = ", ".join(str(code) for code in statuses.get(cls, []))
            lines.append(f"| `{name}` | {bases} | {status} | {_cell(_first_line(cls))} |")
        return "\n".join(lines) + "\n"

    def _other_names(self) -> str:
        lines = [
            "## Other public names\n",
            "In `podero_client`.\n",
            "| name | signature | what it is |",
            "| --- | --- | --- |",
        ]
        for name in self.package.__all__:
            obj = getattr(self.package, name)
            if obj is self.client_class or (isinstance(obj, type) and issubclass(obj, BaseException)):
                continue
            if isinstance(obj, type):
                try:
                    signature = _signature(obj, name).removeprefix("def ").removesuffix(" -> None")
                except (TypeError, ValueError):  # a class without an inspectable __init__
                    signature = name
                lines.append(f"| `{name}` | `{_cell(signature)}` | {_cell(_first_line(obj))} |")
            elif callable(obj):
                lines.append(f"| `{name}` | `{_cell(_signature(obj, name))}` | {_cell(_first_line(obj))} |")
            else:
                if isinstance(obj, types.UnionType):
                    what = "a type alias: any of these"
                elif isinstance(obj, str | int | float):
                    what = "a constant"
                else:
                    what = f"the one instance of `{type(obj).__name__}`"
                lines.append(f"| `{name}` | `{_cell(_type(repr(obj)))}` | {what} |")
        return "\n".join(lines) + "\n"


def render(package: str = "podero_client", spec_path: Path = SPEC) -> str:
    """The text of docs/api.md for ``package`` generated from ``spec_path``."""
    return Reference(package, json.loads(spec_path.read_text())).render()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the output file is stale")
    parser.add_argument("--package", default="podero_client", help="the package to describe (default podero_client)")
    parser.add_argument("--spec", type=Path, default=SPEC, help="the spec it was generated from (default openapi.json)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="default docs/api.md")
    args = parser.parse_args(argv)
    text = render(args.package, args.spec)
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    if args.check:
        if not args.output.exists() or args.output.read_text() != text:
            print(f"api_reference: {shown} is stale: run make docs", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"api_reference: wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
