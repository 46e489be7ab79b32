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
import subprocess
import sys
import tempfile
import types
import typing
import uuid
from pathlib import Path
from typing import Any

from openapi_toolkit import toolkit

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
    """No sample arguments for this request builder: a model argument without a schema of its own."""


@dataclasses.dataclass
class Smoke:
    package: str
    spec: dict[str, Any]  # normalized: the catch-all members exist in the normalized spec only
    models_seen: dict[str, Any] = dataclasses.field(default_factory=dict)
    operations: int = 0
    answers: int = 0
    skipped_examples: int = 0
    unsampled: int = 0  # operations whose arguments this sampler could not build

    def __post_init__(self) -> None:
        from openapi_python_client.strings import ClassName

        self.sampler = toolkit.Sampler(self.spec)
        self.validator = toolkit.Validators(self.spec)
        schemas = self.spec.get("components", {}).get("schemas", {})
        self.schema_of_class = {
            str(ClassName(str(schema.get("title", key)), prefix="")): (key, schema)
            for key, schema in schemas.items()
            if isinstance(schema, dict)
        }
        texts = {key: json.dumps(schema) for key, schema in schemas.items()}
        self.binary = {key for key, text in texts.items() if '"binary"' in text}
        for _ in range(8):  # schemas that hold a binary one, however deep
            self.binary |= {k for k, text in texts.items() if any(f'/schemas/{b}"' in text for b in self.binary)}
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
                if hint.__name__ not in self.schema_of_class or self.schema_of_class[hint.__name__][0] in self.binary:
                    raise _NoArguments(hint.__name__)  # no schema of its own, or files: no JSON form to sample
                return hint.from_dict(self.sampler.sample(self.schema_of_class[hint.__name__][1]))
            if hint.__name__ == "File":
                import io

                return typing.cast(Any, hint)(payload=io.BytesIO(b"smoke"), file_name="smoke.txt")
        return None

    def client(self) -> Any:
        return self.client_module.Client(base_url="https://smoke.invalid", raise_on_unexpected_status=True)

    def check_operation(self, module: Any) -> None:
        import httpx

        where = f"operation {module.METHOD} {module.PATH}"
        identity = toolkit.operation_identity(module.METHOD, module.PATH)
        found = [
            (path, method, node)
            for path, method, node in toolkit.operations(self.spec)
            if toolkit.operation_identity(method, path) == identity
        ]
        if not found:
            raise SmokeFailure(f"{where}: the generated module matches no operation of the spec")
        path, method, operation = found[0]
        if isinstance(operation.get("operationId"), str):
            where += f" ({operation['operationId']})"
        self.operations += 1
        get_kwargs = module._get_kwargs
        hints = typing.get_type_hints(get_kwargs, globalns=vars(module), localns=self.namespace)
        try:
            arguments = {name: self.value_for(hint) for name, hint in hints.items() if name != "return"}
        except _NoArguments:
            arguments = None
            self.unsampled += 1
        try:
            if arguments is None:
                request = httpx.Request(module.METHOD, "https://smoke.invalid/")
            else:
                request_kwargs = dict(get_kwargs(**arguments))
                verb, url = str(request_kwargs.pop("method")).upper(), str(request_kwargs.pop("url"))
                request = httpx.Request(verb, f"https://smoke.invalid{url}", **request_kwargs)
        except Exception as exc:  # the generated code's failure, whatever it is, is this run's finding
            raise SmokeFailure(f"{where}: building a request: {type(exc).__name__}: {exc}") from None
        sent = {key for key, _ in request.url.params.multi_items()} if arguments is not None else None
        for _, parameter in toolkit.parameters(self.spec, path, method):
            if parameter.get("in") == "query":
                name = str(parameter.get("name"))
                if (
                    sent is not None
                    and _flat(parameter)
                    and not any(k == name or k.startswith(f"{name}[") for k in sent)
                ):
                    raise SmokeFailure(f"{where}: query parameter {name!r} given but not sent (sent: {sorted(sent)})")
        responses = operation.get("responses")
        for status, response in responses.items() if isinstance(responses, dict) else ():
            code = _status_code(str(status))
            if code is None:
                continue
            at, response = toolkit.located(
                self.spec, response, toolkit.pointer("paths", path, method, "responses", status)
            )
            found_media = toolkit.json_media(response.get("content")) if isinstance(response, dict) else None
            if found_media is None or "schema" not in found_media[1]:
                continue
            media_type, media = found_media
            bodies = [("a sample", self.sampler.sample(media["schema"]))]
            examples = [("the example", media["example"])] if "example" in media else []
            for name, example in (media.get("examples") or {}).items():
                example = toolkit.deref(self.spec, example)
                if isinstance(example, dict) and "value" in example:
                    examples.append((f"example {name!r}", example["value"]))
            # An example its own schema refuses is the spec's mistake, not the code's: not parsed.
            validator = self.validator(f"{at}/content/{media_type.replace('~', '~0').replace('/', '~1')}/schema")
            bodies += [(label, body) for label, body in examples if validator.is_valid(body)]
            self.skipped_examples += len(examples) + 1 - len(bodies)
            for label, body in bodies:
                headers = {"Content-Type": media_type}
                answer = httpx.Response(code, content=json.dumps(body).encode(), headers=headers, request=request)
                try:
                    parsed = module._parse_response(client=self.client(), response=answer)
                    self.collect(parsed)
                except Exception as exc:  # the generated parser's failure is this run's finding
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

    def check_models(self) -> int:
        checked = 0
        for name, (key, schema) in self.schema_of_class.items():
            model: Any = self.namespace.get(name)
            if not hasattr(model, "from_dict") or not hasattr(model, "to_dict"):
                continue
            if key in self.binary:  # a file field: multipart only, no JSON form to sample
                continue
            sample = self.sampler.sample(schema)
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


def _status_code(status: str) -> int | None:
    """The status a documented answer is tried with: ``404`` as is, a range ``2XX`` as ``200``; ``default`` none."""
    if status.isdigit():
        return int(status)
    if len(status) == 3 and status[0] in "12345" and status[1:].upper() == "XX":
        return int(status[0]) * 100
    return None


def _flat(parameter: dict[str, Any]) -> bool:
    """A query parameter whose value lands under its own name (not an exploded object)."""
    schema = parameter.get("schema")
    return not (isinstance(schema, dict) and (schema.get("type") == "object" or "$ref" in schema))


def main(argv: list[str]) -> int:
    package_dir, spec_file = Path(argv[0]).resolve(), Path(argv[1])
    sys.path.insert(0, str(package_dir.parent))
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
        smoke = Smoke(package, normalize.normalize(spec))
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
        models = smoke.check_models()
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
