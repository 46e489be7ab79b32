"""Python names for whatever a spec calls things: never clashing, never moving.

* A property or parameter named like a local or import of the templates (``d``, ``cls``,
  ``params``, ``quote``...) or a model member (``to_dict``) gets a trailing ``_``, as the
  generator already does for keywords and builtins; the wire name is unchanged.
* A tag whose attribute would replace a member of the hand-written ``PoderoClient``
  (``retry``, ``aclose``...; read from the source at generation time) gets a trailing ``_``;
  one whose resource class would shadow a model or a name of the resource modules
  (``Resources``) becomes ``<tag>_api``.
* Two operations of one tag, or two members of one enum, that would get the same Python
  name fail the run, naming both.
* The lock (``openapi.lock.json`` beside ``openapi.json``) records each operation's tag
  attribute and method name; the next regeneration gives every operation still in the spec
  under the same operationId and tag the same name again (see normalize.shorten_operation_ids).
"""

from __future__ import annotations

import ast
import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

from openapi_python_client import strings
from openapi_python_client.parser import GeneratorData
from openapi_python_client.parser.properties.enum_property import EnumProperty, ValueType

ROOT = Path(__file__).resolve().parent.parent
CLIENT_SOURCES = (ROOT / "podero_client" / "_client.py", ROOT / "podero_client" / "_polling.py")
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


class NameClashError(Exception):
    """Two spec names that would become one Python name, or a name the lock cannot keep."""


def client_members(sources: tuple[Path, ...] = CLIENT_SOURCES) -> frozenset[str]:
    """Every attribute PoderoClient has of its own: methods, class attributes, ``self.x =`` in its methods.

    Read from the hand-written source, so a member added tomorrow is protected tomorrow.
    """
    members: set[str] = set()
    for source in sources:
        tree = ast.parse(source.read_text())
        for node in tree.body:
            if not isinstance(node, ast.ClassDef) or node.name not in ("PoderoClient", "WallboxPolling"):
                continue
            for item in ast.walk(node):
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item in node.body:
                    members.add(item.name)
                elif isinstance(item, ast.AnnAssign | ast.Assign) and item in node.body:
                    targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                    members.update(target.id for target in targets if isinstance(target, ast.Name))
                elif (
                    isinstance(item, ast.Attribute)
                    and isinstance(item.ctx, ast.Store)
                    and isinstance(item.value, ast.Name)
                    and item.value.id == "self"
                ):
                    members.add(item.attr)
    return frozenset(members)


def _enum_values(values: list[str] | list[int], class_info: Any, var_names: list[str]) -> dict[str, ValueType]:
    """The generator's enum member names, refusing two values that would share one.

    Its own check compares the names before they are sanitized: ``a-b`` and ``A B`` pass it and
    one then silently replaces the other, and ``A`` and ``a`` end in a bare ValueError.
    """
    output: dict[str, ValueType] = {}
    owner: dict[str, object] = {}
    use_var_names = len(var_names) == len(values)
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
        if key in output:
            raise NameClashError(
                f"enum {class_info.name}: values {owner[key]!r} and {value!r} would both be the member {key}"
            )
        output[key], owner[key] = stored, value
    return output


@contextlib.contextmanager
def generator_naming() -> Iterator[None]:
    """Inside: the generator renames template names as it renames keywords, and checks enum members."""
    reserved = strings.RESERVED_WORDS
    values_from_list = EnumProperty.__dict__["values_from_list"]
    strings.RESERVED_WORDS = reserved | TEMPLATE_NAMES | RESOURCE_MEMBERS
    EnumProperty.values_from_list = staticmethod(_enum_values)  # type: ignore[method-assign]  # patched for the run
    try:
        yield
    finally:
        strings.RESERVED_WORDS = reserved
        EnumProperty.values_from_list = values_from_list  # type: ignore[method-assign]  # restored


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


def read_lock(path: Path) -> dict[str, dict[str, str]]:
    """The lock's operations (``key -> {"tag": spec tag, "name": Python name}``); empty when absent or unreadable."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    operations = document.get("operations") if isinstance(document, dict) else None
    if not isinstance(operations, dict):
        return {}
    return {
        key: entry
        for key, entry in operations.items()
        if isinstance(entry, dict) and isinstance(entry.get("tag"), str) and isinstance(entry.get("name"), str)
    }


def render_lock(operations: dict[str, dict[str, str]]) -> str:
    document = {
        "about": "Python names of the spec's operations, kept by scripts/regenerate.py; commit it with openapi.json.",
        "operations": dict(sorted(operations.items())),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
