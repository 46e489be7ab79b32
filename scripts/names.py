"""Python names for whatever a spec calls things: never clashing, never moving.

* A property or parameter named like a local or import of the templates (``d``, ``cls``,
  ``params``, ``quote``...) or a model member (``to_dict``) gets a trailing ``_``, as the
  generator already does for keywords and builtins; the wire name is unchanged.
* A tag whose attribute would replace a member of the hand-written ``PoderoClient``
  (``retry``, ``aclose``, ``watch_wallboxes``...; read from the class and its bases' source at
  generation time) gets a trailing ``_``;
  one whose resource class would shadow a model or a name of the resource modules
  (``Resources``) becomes ``<tag>_api``.
* Two operations of one tag, or two members of one enum, that would get the same Python
  name fail the run, naming both.
* The lock (``openapi.lock.json`` beside ``openapi.json``) records every public name: each
  operation's tag attribute and method name, each parameter's keyword (by location and wire
  name), each model attribute (by wire name) and each enum member (by value). The next
  regeneration gives every item still in the spec the same name again (operations: see
  normalize.shorten_operation_ids; the rest: ``keep_locked_names``), and a new item never takes
  a locked name: it gets the next free ``<name>_2``, ``<name>_3``... A name that moves anyway (a
  renamed operationId, a model renamed by its title) is a breaking change the gate reports.
"""

from __future__ import annotations

import ast
import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, cast

import attrs
from openapi_python_client import strings
from openapi_python_client.parser import GeneratorData
from openapi_python_client.parser.properties.enum_property import EnumProperty, ValueType
from openapi_python_client.schema.untrusted_string import UntrustedString

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "podero_client"
LOCK_NAME = "openapi.lock.json"

# Names the templates use beside a property's or parameter's Python name, in the same scope:
# locals and arguments of from_dict/to_dict/_get_kwargs, imports used inside them, model members.
TEMPLATE_NAMES = frozenset(
    {
        "d", "cls", "src_dict", "field_dict", "files", "prop", "prop_name", "prop_dict",
        "additional_properties", "additional_keys", "to_dict", "from_dict", "to_multipart",
        "json", "types", "cast", "quote", "httpx", "errors", "as_status", "isoparse",
        "headers", "cookies", "params", "client", "kwargs", "response",
    }
)  # fmt: skip
# Members of every generated resource class, beside the operations.
RESOURCE_MEMBERS = frozenset({"with_raw_response"})
# Names the resource modules (api/__init__.py, api/<tag>/__init__.py) import or define beside
# the resource classes: a tag whose class would be one of them, or a model's, becomes ``<tag>_api``.
RESOURCE_MODULE_NAMES = frozenset({"Resources", "Call", "Paginate", "APIResponse", "Unset", "Any", "AsyncIterator"})


Names = dict[str, dict[str, str]]  # owner (operation key, model or enum class) -> spec name -> Python name


class Locked(NamedTuple):
    """Every public name the lock holds (read-only: never changed in place)."""

    operations: dict[str, dict[str, str]]  # operation key -> {"tag", "name", "python"}
    parameters: Mapping[str, dict[str, str]] = MappingProxyType({})  # operation key -> "query:pageSize" -> keyword
    properties: Mapping[str, dict[str, str]] = MappingProxyType({})  # model class -> wire name -> attribute
    enums: Mapping[str, dict[str, str]] = MappingProxyType({})  # enum class -> str(value) -> member


class NameClashError(Exception):
    """Two spec names that would become one Python name, or a name the lock cannot keep."""


def client_members(package: Path = PACKAGE, module: str = "_client", name: str = "PoderoClient") -> frozenset[str]:
    """Every attribute PoderoClient has: methods, class attributes, ``self.x =`` in its methods, its bases' too.

    Read with ``ast`` from the hand-written source (never imported: the pipeline does not import
    the package it regenerates), following each base class through the relative imports of the
    module that names it, so a member is seen whichever module defines it, today and after a move.
    The generated ``Resources`` base is skipped: its members are the tags themselves.
    """
    members: set[str] = set()
    pending, seen = [(module, name)], set()
    while pending:
        module, name = pending.pop()
        path = package / f"{module.replace('.', '/')}.py"
        if (module, name) in seen or module.startswith("_generated") or not path.is_file():
            continue
        seen.add((module, name))
        tree = ast.parse(path.read_text())
        imported = {
            alias.asname or alias.name: (node.module, alias.name)
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
            for alias in node.names
        }
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == name:
                members |= _class_members(node)
                pending += [
                    imported.get(base.id, (module, base.id)) for base in node.bases if isinstance(base, ast.Name)
                ]
    return frozenset(members)


def _class_members(node: ast.ClassDef) -> set[str]:
    members: set[str] = set()
    for item in node.body:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            members.add(item.name)
        elif isinstance(item, ast.AnnAssign | ast.Assign):
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            members.update(target.id for target in targets if isinstance(target, ast.Name))
    members.update(
        item.attr
        for item in ast.walk(node)
        if isinstance(item, ast.Attribute)
        and isinstance(item.ctx, ast.Store)
        and isinstance(item.value, ast.Name)
        and item.value.id == "self"
    )
    return members


def _enum_values(values: list[str] | list[int], class_info: Any, var_names: list[str]) -> dict[str, ValueType]:
    """The generator's enum member names, refusing two values that would share one.

    Its own check compares the names before they are sanitized: ``a-b`` and ``A B`` pass it and
    one then silently replaces the other, and ``A`` and ``a`` end in a bare ValueError.
    """
    output: dict[str, ValueType] = {}
    owner: dict[str, object] = {}
    use_var_names = len(var_names) == len(values)
    locked = _LOCKED_ENUMS.get(str(class_info.name), {})
    # Locked members first: a new value never takes a member name an old one had.
    taken = {locked[str(value)] for value in cast(list[Any], values) if str(value) in locked}
    for index, value in enumerate(cast(list[Any], values)):
        if isinstance(value, int):
            if use_var_names:
                key = strings.snake_case(var_names[index]).upper()
            else:
                key = f"VALUE_NEGATIVE_{-value}" if value < 0 else f"VALUE_{value}"
            stored: ValueType = value
        else:
            raw = var_names[index] if use_var_names else (value.upper() if value and value[0].isalpha() else "")
            key = strings.snake_case(raw).upper()
            if not key.isidentifier():
                key = f"VALUE_{index}"
            stored = strings.in_double_quote_literal(value)
        if str(value) in locked:
            key = locked[str(value)]
        elif key in taken:
            key = _free(key, taken | output.keys())
        _SEEN_ENUMS.setdefault(str(class_info.name), {})[str(value)] = key
        if key in output:
            raise NameClashError(
                f"enum {class_info.name}: values {owner[key]!r} and {value!r} would both be the member {key}"
            )
        output[key], owner[key] = stored, value
    return output


def _free(name: str, taken: set[str] | Any) -> str:
    """``name``, else the first of ``name_2``, ``name_3``... not in ``taken``."""
    number = 1
    candidate = name
    while candidate in taken:
        number += 1
        candidate = f"{name}_{number}"
    return candidate


# For _enum_values while generator_naming is on: the lock's enum members, and the members given.
_LOCKED_ENUMS: Mapping[str, dict[str, str]] = {}
_SEEN_ENUMS: Names = {}


@contextlib.contextmanager
def generator_naming(locked_enums: Mapping[str, dict[str, str]] | None = None) -> Iterator[None]:
    """Inside: the generator renames template names as it renames keywords, and checks (and keeps) enum members."""
    global _LOCKED_ENUMS, _SEEN_ENUMS
    reserved = strings.RESERVED_WORDS
    values_from_list = EnumProperty.__dict__["values_from_list"]
    strings.RESERVED_WORDS = reserved | TEMPLATE_NAMES | RESOURCE_MEMBERS
    EnumProperty.values_from_list = staticmethod(_enum_values)  # type: ignore[method-assign]  # patched for the run
    _LOCKED_ENUMS, _SEEN_ENUMS = locked_enums or {}, {}
    try:
        yield
    finally:
        strings.RESERVED_WORDS = reserved
        EnumProperty.values_from_list = values_from_list  # type: ignore[method-assign]  # restored
        _LOCKED_ENUMS = {}


def _shown(text: str) -> str:
    """``text`` as is when printable, else quoted: a message stays one line whatever the spec holds."""
    return text if text.isprintable() else repr(text)


def _describe(endpoint: Any, operation_id_of: Callable[[str, str], str | None]) -> str:
    method, path = str(endpoint.method).upper(), endpoint.path.get_untrusted_value()
    operation_id = operation_id_of(method, path)
    return f"{method} {_shown(path)}" + (f" ({_shown(operation_id)})" if operation_id else "")


def settle(
    data: GeneratorData,
    operation_id_of: Callable[[str, str], str | None],
    members: frozenset[str],
    lock: dict[str, dict[str, str]] | None = None,
) -> None:
    """Rename tags that would clash; refuse operations sharing one Python name.

    ``operation_id_of(METHOD, generator path)`` is the spec's operationId, for messages.
    A tag keeps the attribute ``lock`` gives it while that attribute clashes with nothing; when
    it would, the tag is renamed and the breaking-change gate reports the move.
    """
    renamed: dict[Any, Any] = {}
    classes = RESOURCE_MODULE_NAMES | {model.class_info.name for model in data.models}
    classes |= {enum.class_info.name for enum in data.enums}
    locked = {
        strings.PythonIdentifier(entry["tag"], prefix="tag"): entry["python"].split(".")[0]
        for entry in (lock or {}).values()
        if entry.get("python")
    }

    def safe(name: str) -> bool:
        return name not in members and strings.ClassName(name, prefix="") not in classes

    for tag, collection in data.endpoint_collections_by_tag.items():
        name = tag
        if tag in locked and safe(locked[tag]):
            name = strings.PythonIdentifier(locked[tag], prefix="tag", skip_snake_case=True)
        else:
            if name in members:
                name = strings.PythonIdentifier(f"{tag}_", prefix="tag", skip_snake_case=True)
            if not safe(name):  # the resource class would shadow a model or a name of its modules
                name = strings.PythonIdentifier(f"{name.rstrip('_')}_api", prefix="tag", skip_snake_case=True)
        if name in renamed:  # "retry" became "retry_", and the spec has a tag "retry_" as well
            renamed[name].endpoints.extend(collection.endpoints)
            continue
        collection.tag = name
        renamed[name] = collection
        seen: dict[str, Any] = {}
        for endpoint in collection.endpoints:
            python_name = str(strings.PythonIdentifier(endpoint.name, prefix="")) or endpoint.name
            if python_name in seen:
                raise NameClashError(
                    f"operations {_describe(seen[python_name], operation_id_of)} and "
                    f"{_describe(endpoint, operation_id_of)} would both be {_shown(f'{name}.{python_name}')}"
                )
            seen[python_name] = endpoint
    data.endpoint_collections_by_tag = renamed


def _renamed(prop: Any, name: str, prefix: str) -> Any:
    """A copy of ``prop`` with the Python name ``name`` (copies: a property object can be shared by models)."""
    copy = attrs.evolve(prop)
    copy.set_python_name(UntrustedString(name), config=_PrefixOnly(prefix), skip_snake_case=True)
    return copy


class _PrefixOnly(NamedTuple):
    field_prefix: str  # all of the generator's Config that set_python_name reads


def _keep(props: list[Any], locked: dict[str, str], key_of: Callable[[Any], str], prefix: str) -> list[Any]:
    """``props`` with their locked Python names back; new ones get a name no locked one has.

    Where the generator parted two names by giving both their raw spelling (``userId`` and
    ``user_id``), the locked one keeps its name and the new one gets its own snake-cased name, or
    the next free ``_2``; any other name the generator gave (``client_query``) stays.
    """
    taken = {locked[key_of(prop)] for prop in props if key_of(prop) in locked}
    unlocked = [prop for prop in props if key_of(prop) not in locked]
    result = []
    for prop in props:
        key, current, wire = key_of(prop), str(prop.python_name), _wire(prop)
        if key in locked:
            name = locked[key]
        else:
            natural = str(strings.PythonIdentifier(wire, prefix=prefix))
            name = natural if current == wire != natural else current
            others = {str(other.python_name) for other in unlocked if other is not prop}
            if name in taken or (name != current and name in others):
                name = _free(name, taken | others)
        taken.add(name)
        result.append(prop if name == str(prop.python_name) else _renamed(prop, name, prefix))
    return result


_LOCATIONS = ("path", "query", "header", "cookie")


def keep_locked_names(
    data: GeneratorData, locked: Locked, operation_key: Callable[[Any], str | None], prefix: str
) -> None:
    """Give every model attribute and parameter the lock knows its locked name; new ones never take one.

    ``operation_key(endpoint)`` is the lock's key of an endpoint's operation; ``prefix`` the
    generator's ``field_prefix`` (for a name that starts with a digit).
    """
    for model in data.models:
        if model.required_properties is None or model.optional_properties is None:
            continue
        names = locked.properties.get(str(model.class_info.name), {})
        every = _keep([*model.required_properties, *model.optional_properties], names, _wire, prefix)
        model.required_properties = every[: len(model.required_properties)]
        model.optional_properties = every[len(model.required_properties) :]
    for collection in data.endpoint_collections_by_tag.values():
        for endpoint in collection.endpoints:
            key = operation_key(endpoint)
            names = locked.parameters.get(key, {}) if key else {}
            groups = [getattr(endpoint, f"{location}_parameters") for location in _LOCATIONS]
            every = _keep([prop for group in groups for prop in group], names, _parameter_key(endpoint), prefix)
            start = 0
            for location, group in zip(_LOCATIONS, groups, strict=True):
                renamed = every[start : start + len(group)]
                start += len(group)
                if location == "path":  # the generator wrote the Python names into the path template
                    for old, new in zip(group, renamed, strict=True):
                        template = endpoint.path.get_untrusted_value().replace(
                            f"{{{old.python_name}}}", f"{{{new.python_name}}}"
                        )
                        endpoint.path = UntrustedString(template)
                setattr(endpoint, f"{location}_parameters", renamed)


def _wire(prop: Any) -> str:
    return str(prop.name.get_untrusted_value())


def _parameter_key(endpoint: Any) -> Callable[[Any], str]:
    where = {id(prop): location for location in _LOCATIONS for prop in getattr(endpoint, f"{location}_parameters")}
    return lambda prop: f"{where.get(id(prop), 'query')}:{_wire(prop)}"


def locked_names(data: GeneratorData, operation_key: Callable[[Any], str | None]) -> tuple[Names, Names, Names]:
    """``(parameters, properties, enums)``: the names this generation gives, for the new lock."""
    properties: Names = {}
    for model in data.models:
        every = [*(model.required_properties or []), *(model.optional_properties or [])]
        properties[str(model.class_info.name)] = {_wire(prop): str(prop.python_name) for prop in every}
    parameters: Names = {}
    for collection in data.endpoint_collections_by_tag.values():
        for endpoint in collection.endpoints:
            key = operation_key(endpoint)
            found = {
                f"{location}:{_wire(prop)}": str(prop.python_name)
                for location in _LOCATIONS
                for prop in getattr(endpoint, f"{location}_parameters")
            }
            if key and found:
                parameters[key] = found
    generated = {str(enum.class_info.name) for enum in data.enums}
    enums = {name: members for name, members in _SEEN_ENUMS.items() if name in generated}
    return parameters, properties, enums


def moves(old: Locked, new: Locked) -> list[str]:
    """Every name the old lock gave that the new one gives otherwise: each breaks code that used it."""
    found = [
        f"operation {key}: {entry.get('python')} -> {new.operations[key].get('python')} (name moved)"
        for key, entry in sorted(old.operations.items())
        if key in new.operations and entry.get("python") and entry.get("python") != new.operations[key].get("python")
    ]
    for kind, was, now in (
        ("parameter", old.parameters, new.parameters),
        ("attribute", old.properties, new.properties),
        ("enum member", old.enums, new.enums),
    ):
        for owner in sorted(was.keys() & now.keys()):
            for key, name in sorted(was[owner].items()):
                if key in now[owner] and now[owner][key] != name:
                    found.append(f"{kind} {owner} {key}: {name} -> {now[owner][key]} (name moved)")
    return found


def read_lock(path: Path) -> Locked:
    """Every name the lock holds; empty when absent or unreadable (a lock that says nothing keeps nothing)."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return Locked({})
    if not isinstance(document, dict):
        return Locked({})
    operations = document.get("operations")
    operations = operations if isinstance(operations, dict) else {}

    def table(name: str) -> Names:
        found = document.get(name)
        if not isinstance(found, dict):
            return {}
        return {
            owner: {str(k): v for k, v in entries.items() if isinstance(v, str)}
            for owner, entries in found.items()
            if isinstance(entries, dict)
        }

    return Locked(
        {
            key: entry
            for key, entry in operations.items()
            if isinstance(entry, dict) and isinstance(entry.get("tag"), str) and isinstance(entry.get("name"), str)
        },
        table("parameters"),
        table("properties"),
        table("enums"),
    )


def render_lock(locked: Locked) -> str:
    def ordered(table: Mapping[str, dict[str, str]]) -> dict[str, Any]:
        return {key: dict(sorted(value.items())) for key, value in sorted(table.items())}

    document = {
        "about": "The Python name of every item of the spec, kept by scripts/regenerate.py; commit with openapi.json.",
        "operations": dict(sorted(locked.operations.items())),
        "parameters": ordered(locked.parameters),
        "properties": ordered(locked.properties),
        "enums": ordered(locked.enums),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
