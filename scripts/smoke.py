"""Smoke-run a freshly generated package before it replaces anything.

    python scripts/smoke.py PACKAGE_DIR SPEC.json     # exit 0, or 1 with one line naming what failed

In a fresh interpreter (so a package that only imports thanks to the caller's modules fails):
every module is imported; every operation's request builder (``_get_kwargs``) is called with
a value for each parameter and turned into an httpx request, and each query parameter must
reach the query under its wire name; every documented answer is parsed by ``_parse_response``
from a schema-valid sample and from each of the spec's examples; every model that has a
schema of its own, and every model met in a parsed answer, goes through
``from_dict(to_dict())`` unchanged. ``run`` is what scripts/regenerate.py calls.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import importlib
import json
import re
import subprocess
import sys
import tempfile
import types
import typing
import uuid
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
TIMEOUT = 300.0  # seconds; a large spec smoke-runs in a few


def run(package: Path, spec: dict[str, Any]) -> str | None:
    """None when the package at ``package`` passes its smoke run, else the one-line reason."""
    with tempfile.TemporaryDirectory(prefix="podero-smoke-") as work:
        spec_file = Path(work) / "spec.json"
        spec_file.write_text(json.dumps(spec))
        command = [sys.executable, str(Path(__file__).resolve()), str(package), str(spec_file)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return f"it did not finish within {TIMEOUT:g} s"
    if result.returncode == 0:
        return None
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[-1][:400] if lines else f"it exited with status {result.returncode}"


class SmokeFailure(Exception):
    """What failed, in one line."""


class _NoArguments(Exception):
    """No sample arguments for this request builder."""


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


@dataclasses.dataclass
class Smoke:
    package: str
    spec: dict[str, Any]
    models_seen: dict[str, Any] = dataclasses.field(default_factory=dict)
    operations: int = 0
    answers: int = 0
    skipped_examples: int = 0
    unsampled: int = 0  # operations whose arguments this sampler could not build

    def __post_init__(self) -> None:
        from podero_client.testing._spec import SpecRoutes

        self.routes = SpecRoutes(self.spec)
        self.models = importlib.import_module(f"{self.package}.models")
        self.types_module = importlib.import_module(f"{self.package}.types")
        self.client_module = importlib.import_module(f"{self.package}.client")
        self.namespace = {name: getattr(self.models, name) for name in getattr(self.models, "__all__", [])}

    # Values of the Python types the generator writes.
    def value_for(self, hint: Any, depth: int = 0) -> Any:
        unset = self.types_module.Unset
        origin = typing.get_origin(hint)
        if origin in (typing.Union, types.UnionType):
            members = [arg for arg in typing.get_args(hint) if arg not in (type(None), unset)]
            return self.value_for(members[0], depth) if members else None
        if origin is list:
            (inner,) = typing.get_args(hint) or (str,)
            return [self.value_for(inner, depth + 1)]
        if origin is dict:
            return {}
        if origin is typing.Literal:
            return typing.get_args(hint)[0]
        if isinstance(hint, type):
            if issubclass(hint, enum.Enum):
                return next(iter(hint))
            if hint is bool:
                return True
            if issubclass(hint, int):
                return 1
            if issubclass(hint, float):
                return 1.5
            if issubclass(hint, str):
                return "smoke"
            if hint is uuid.UUID:
                return uuid.UUID("00000000-0000-4000-8000-000000000001")
            if hint is datetime.datetime:
                return datetime.datetime(2026, 1, 1, 8, tzinfo=datetime.UTC)
            if hint is datetime.date:
                return datetime.date(2026, 1, 1)
            if hasattr(hint, "from_dict"):
                return hint.from_dict(self.model_sample(hint, depth))
            if hint.__name__ == "File":
                import io

                return typing.cast(Any, hint)(payload=io.BytesIO(b"smoke"), file_name="smoke.txt")
        return None

    def model_sample(self, model: type, depth: int) -> dict[str, Any]:
        """A JSON object for ``model``, from its fields' types: required ones only, past a shallow depth."""
        import attrs

        hints = typing.get_type_hints(model, localns=self.namespace)
        sample: dict[str, Any] = {}
        instance_kwargs: dict[str, Any] = {}
        for field in attrs.fields(model):
            if field.name.startswith("_"):
                continue
            required = field.default is attrs.NOTHING
            if not required and depth > 2:
                continue
            instance_kwargs[field.name] = self.value_for(hints[field.name], depth + 1)
        try:
            sample = model(**instance_kwargs).to_dict()
        except Exception:
            sample = {}
        return sample

    def client(self) -> Any:
        return self.client_module.Client(base_url="https://smoke.invalid", raise_on_unexpected_status=True)

    def check_operation(self, module: Any) -> None:
        import httpx

        where = f"operation {module.METHOD} {module.PATH}"
        found = [op for op in self.routes if op.method == module.METHOD and _shape(op.path) == _shape(module.PATH)]
        if not found:
            raise SmokeFailure(f"{where}: the generated module matches no operation of the spec")
        operation = found[0]
        if operation.operation_id:
            where += f" ({operation.operation_id})"
        self.operations += 1
        get_kwargs = module._get_kwargs
        hints = typing.get_type_hints(get_kwargs, globalns=vars(module), localns=self.namespace)
        try:
            arguments = {name: self.value_for(hint) for name, hint in hints.items() if name != "return"}
        except Exception:
            arguments = None
            self.unsampled += 1
        try:
            if arguments is None:
                raise _NoArguments
            request_kwargs = dict(get_kwargs(**arguments))
            method, url = str(request_kwargs.pop("method")).upper(), str(request_kwargs.pop("url"))
            request = httpx.Request(method, f"https://smoke.invalid{url}", **request_kwargs)
        except _NoArguments:
            request = httpx.Request(module.METHOD, "https://smoke.invalid/")
        except Exception as exc:
            raise SmokeFailure(f"{where}: building a request: {type(exc).__name__}: {exc}") from None
        sent = {key for key, _ in request.url.params.multi_items()} if arguments is not None else None
        for parameter in operation.node.get("parameters", []):
            parameter = self.routes._resolve(parameter)
            if isinstance(parameter, dict) and parameter.get("in") == "query":
                name = str(parameter.get("name"))
                if (
                    sent is not None
                    and _flat(parameter)
                    and not any(k == name or k.startswith(f"{name}[") for k in sent)
                ):
                    raise SmokeFailure(f"{where}: query parameter {name!r} given but not sent (sent: {sorted(sent)})")
        for status, response in operation.node.get("responses", {}).items():
            if not str(status).isdigit():
                continue
            pointer = f"{operation.pointer}/responses/{status}"
            if isinstance(response, dict) and isinstance(response.get("$ref"), str):
                pointer = response["$ref"]
            response = self.routes._resolve(response)
            media = response.get("content", {}).get("application/json") if isinstance(response, dict) else None
            if not isinstance(media, dict) or "schema" not in media:
                continue
            bodies = [("a sample", self.routes.sample(media["schema"]))]
            examples = [("the example", media["example"])] if "example" in media else []
            for name, example in (media.get("examples") or {}).items():
                example = self.routes._resolve(example)
                if isinstance(example, dict) and "value" in example:
                    examples.append((f"example {name!r}", example["value"]))
            # An example its own schema refuses is the spec's mistake, not the code's: not parsed.
            validator = self.routes._validator(f"{pointer}/content/application~1json/schema")
            bodies += [(label, body) for label, body in examples if validator.is_valid(body)]
            self.skipped_examples += len(examples) + 1 - len(bodies)
            for label, body in bodies:
                headers = {"Content-Type": "application/json"}
                answer = httpx.Response(
                    int(status), content=json.dumps(body).encode(), headers=headers, request=request
                )
                try:
                    parsed = module._parse_response(client=self.client(), response=answer)
                    self.collect(parsed)
                except Exception as exc:
                    raise SmokeFailure(
                        f"{where}: parsing {label} {status} answer: {type(exc).__name__}: {str(exc)[:200]}"
                    ) from None
                self.answers += 1

    def collect(self, value: Any, depth: int = 0) -> None:
        """Remember the first instance of every model class found in a parsed answer."""
        if depth > 20:
            return
        if isinstance(value, list):
            for item in value[:3]:
                self.collect(item, depth + 1)
        elif hasattr(value, "to_dict") and hasattr(type(value), "from_dict"):
            self.models_seen.setdefault(type(value).__name__, value)
            for attribute in getattr(type(value), "__attrs_attrs__", ()):
                self.collect(getattr(value, attribute.name, None), depth + 1)

    def check_models(self, normalized: dict[str, Any]) -> int:
        from openapi_python_client.strings import ClassName

        from podero_client.testing._spec import SpecRoutes

        routes = SpecRoutes(normalized)  # the catch-all members exist in the normalized spec only
        texts = {key: json.dumps(schema) for key, schema in normalized.get("components", {}).get("schemas", {}).items()}
        binary = {key for key, text in texts.items() if '"binary"' in text}
        for _ in range(8):  # schemas that hold a binary one, however deep
            binary |= {k for k, text in texts.items() if any(f'/schemas/{b}"' in text for b in binary)}
        checked = 0
        schemas = normalized.get("components", {}).get("schemas", {})
        for key, schema in schemas.items():
            if not isinstance(schema, dict):
                continue
            name = str(ClassName(str(schema.get("title", key)), prefix=""))
            model: Any = self.namespace.get(name)
            if not hasattr(model, "from_dict") or not hasattr(model, "to_dict"):
                continue
            if key in binary:  # a file field: multipart only, no JSON form to sample
                continue
            sample = routes.sample(schema)
            try:
                self.models_seen.setdefault(name, model.from_dict(sample))
            except Exception as exc:
                raise SmokeFailure(
                    f"schema {key}: {name}.from_dict of a sample fails: {type(exc).__name__}: {str(exc)[:200]}"
                ) from None
        for name, instance in sorted(self.models_seen.items()):
            try:
                once = instance.to_dict()
                again = type(instance).from_dict(json.loads(json.dumps(once))).to_dict()
            except Exception as exc:
                raise SmokeFailure(f"model {name}: from_dict(to_dict()) fails: {type(exc).__name__}: {exc}") from None
            if json.dumps(once, sort_keys=True, default=str) != json.dumps(again, sort_keys=True, default=str):
                raise SmokeFailure(f"model {name}: from_dict(to_dict()) changes the value")
            checked += 1
        return checked


def _flat(parameter: dict[str, Any]) -> bool:
    """A query parameter whose value lands under its own name (not an exploded object)."""
    schema = parameter.get("schema")
    return not (isinstance(schema, dict) and (schema.get("type") == "object" or "$ref" in schema))


def main(argv: list[str]) -> int:
    package_dir, spec_file = Path(argv[0]).resolve(), Path(argv[1])
    sys.path.insert(0, str(package_dir.parent))
    sys.path.insert(1, str(SCRIPTS))
    import normalize

    spec = json.loads(spec_file.read_text())
    package = package_dir.name
    try:
        try:
            importlib.import_module(package)
            modules = sorted(package_dir.rglob("*.py"))
            for path in modules:
                dotted = ".".join(path.relative_to(package_dir.parent).with_suffix("").parts)
                importlib.import_module(dotted.removesuffix(".__init__"))
        except Exception as exc:
            raise SmokeFailure(f"importing {package}: {type(exc).__name__}: {exc}") from None
        smoke = Smoke(package, spec)
        api = importlib.import_module(f"{package}.api")
        try:
            resources = api.Resources()
            resources._bind_resources(lambda *args: None, lambda *args: None)
            for tag in api.TAGS:
                getattr(resources, tag).with_raw_response  # noqa: B018 (each tag's resource must be bound)
        except Exception as exc:
            raise SmokeFailure(f"binding the resources: {type(exc).__name__}: {exc}") from None
        for path in modules:
            if path.parent.parent.name == "api" and path.name != "__init__.py":
                dotted = ".".join(path.relative_to(package_dir.parent).with_suffix("").parts)
                smoke.check_operation(importlib.import_module(dotted))
        models = smoke.check_models(normalize.normalize(spec))
    except SmokeFailure as failure:
        print(str(failure)[:400])
        return 1
    except Exception as exc:
        print(f"the smoke run itself failed: {type(exc).__name__}: {str(exc)[:300]}")
        return 1
    print(
        f"smoke: {smoke.operations} operation(s), {smoke.answers} answer(s) parsed, {models} model(s) round-tripped,"
        f" {smoke.skipped_examples} example(s) skipped as invalid for their schema,"
        f" {smoke.unsampled} request builder(s) without sample arguments"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
