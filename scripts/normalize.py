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

from openapi_python_client.schema import OpenAPI
from openapi_python_client.strings import ClassName, snake_case
from openapi_toolkit import toolkit
from pydantic import ValidationError

# The toolkit's reading of operations, re-exported for the scripts that read specs through this module.
operations = toolkit.operations
operation_key = toolkit.operation_key
first_tag = toolkit.first_tag

Spec = dict[str, Any]
Rule = Callable[[Spec], Spec]

# Django Ninja builds operationIds as "<dotted module path>_<function name>", with the
# dots turned into underscores; Podero's router modules are all named "router".
_NINJA_OPERATION_ID = re.compile(r"^(?P<module>[a-z0-9_]+)_router_(?P<name>[a-z][a-z0-9_]*)$")


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Yield every mapping in the document, depth first, in document order."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


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


def pin_discriminator_values(spec: Spec) -> Spec:
    """Honour a ``discriminator.mapping`` whose members declare the discriminator as a plain string.

    The union template dispatches on each member's ``const`` discriminator; a member that
    declares ``type: string`` only would take every payload (a ``bike`` parsed as a ``Car``).
    A member the mapping names for exactly one value gets that value as its ``const`` (and the
    property is required, as OpenAPI says a discriminator is). A member mapped from several
    values, or used by several unions with different values, is left alone (and refused later,
    scripts/unsupported.py).
    """
    pins: defaultdict[str, set[tuple[str, str]]] = defaultdict(set)  # member ref -> {(property, value)}
    for node in _walk(spec):
        discriminator = node.get("discriminator")
        mapping = discriminator.get("mapping") if isinstance(discriminator, dict) else None
        field = discriminator.get("propertyName") if isinstance(discriminator, dict) else None
        if isinstance(mapping, dict) and isinstance(field, str):
            for value, ref in mapping.items():
                if isinstance(ref, str):
                    pins[ref].add((field, str(value)))
    spec = copy.deepcopy(spec) if pins else spec
    for ref, wanted in pins.items():
        member = toolkit.deref(spec, {"$ref": ref})
        properties = member.get("properties") if isinstance(member, dict) else None
        if len(wanted) != 1 or not isinstance(properties, dict):
            continue
        ((field, value),) = wanted
        declared = properties.get(field)
        if (
            isinstance(declared, dict)
            and declared.get("type") == "string"
            and not {"const", "enum", "$ref"} & set(declared)
        ):
            declared["const"] = value
            required = member.setdefault("required", [])
            if isinstance(required, list) and field not in required:
                required.append(field)
    return spec


class OutlineError(Exception):
    """A spec whose structure is not OpenAPI's (a node of the wrong JSON type), with a one-line cause."""


def check_outline(spec: Spec, source: str) -> None:
    """Refuse, before any rule or comparison reads it, a spec the generator's OpenAPI model rejects.

    Validated with openapi-python-client's own model, once its one repairable defect (mapping
    objects) is repaired, so every later step reads nodes of the types OpenAPI gives them.
    """
    try:
        OpenAPI.model_validate(stringify_discriminator_mappings(spec))
    except ValidationError as exc:
        error = exc.errors()[0]
        node: Any = spec
        parts: list[str] = []
        for part in error["loc"]:  # the model's union branch names are not in the document: skipped
            key: Any = part if isinstance(node, dict) else int(part) if str(part).isdigit() else None
            if (isinstance(node, dict) and key in node) or (
                isinstance(node, list) and isinstance(key, int) and key < len(node)
            ):
                node = node[key]
                parts.append(str(part))
        raise OutlineError(f"{source}: {toolkit.pointer(*parts)} is not valid OpenAPI: {error['msg']}") from None


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
    taken = {_class_name(title) for title in by_title}
    for title, keys in sorted(collisions.items()):
        for key, prefix in _distinct_prefixes(keys).items():
            name = title if title.startswith(prefix) else f"{prefix}{title}"
            # A number, not a trailing "_": the generator's class names drop underscores.
            stem, number = name, 1
            while _class_name(name) in taken:
                number += 1
                name = f"{stem}{number}"
            taken.add(_class_name(name))
            schemas[key]["title"] = name
    return spec


def tag_folder(operation: dict[str, Any]) -> str:
    """The generator's module folder for an operation: its first tag, snake-cased."""
    return snake_case(first_tag(operation))


def _ninja_parts(operation_id: object) -> tuple[str, str] | None:
    """``(router module path, function)`` of a Django Ninja operationId, or None."""
    if isinstance(operation_id, str) and (match := _NINJA_OPERATION_ID.match(operation_id)):
        return match["module"], match["name"]
    return None


def _qualified_names(colliding: list[tuple[str, str]], taken: set[str]) -> dict[tuple[str, str], str]:
    """``<trailing module words>_<function>`` names for colliding ``(module, function)`` pairs.

    The shortest run of trailing router-module words that makes every name distinct (and
    distinct from ``taken``) wins; failing that, the whole operationId-like form is used.
    """
    words = {key: key[0].split("_") for key in colliding}
    for depth in range(1, max(len(w) for w in words.values()) + 1):
        names = {key: snake_case(f"{'_'.join(words[key][-depth:])}_{key[1]}") for key in colliding}
        if len(set(names.values())) == len(colliding) and not set(names.values()) & taken:
            return names
    return {key: snake_case(f"{key[0]}_router_{key[1]}") for key in colliding}


Lock = dict[str, dict[str, str]]


def shorten_operation_ids(spec: Spec, lock: Lock | None = None) -> Spec:
    """Turn Django Ninja's ``<module path>_router_<function>`` operationIds into ``<function>``, per tag.

    The generator puts each operation in the module folder of its first tag, so a short
    name only has to be unique inside that tag; operations of other tags never affect it.
    Inside one tag, when several operations share a function name (routers reuse
    ``boost``, ``retrieve_*``), the one whose router module path is shortest (then first
    alphabetically) keeps the bare function name, and the others are qualified with the
    fewest trailing words of their router module that tell them apart
    (``wallboxes_retrieve_wallbox``). An operationId that is not of Ninja's
    form is kept as it is.

    ``lock`` (scripts/names.py) pins names: an operation it knows, under the same
    operationId and first tag, gets its locked name back, and is named first, so a new
    operation never takes an old one's name; it gets the qualified form instead.
    """
    lock = lock or {}
    found = list(operations(spec))
    pinned: dict[int, str] = {}
    for position, (path, method, operation) in enumerate(found):
        entry = lock.get(operation_key(path, method, operation))
        if entry and entry["tag"] == first_tag(operation):
            pinned[position] = entry["name"]
    if not pinned and not any(_ninja_parts(operation.get("operationId")) for _, _, operation in found):
        return spec
    by_tag: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, _, operation in found:
        by_tag[tag_folder(operation)].append(operation)
    renamed: dict[int, str] = dict(pinned)  # index in document order -> new operationId
    index = {id(operation): position for position, (_, _, operation) in enumerate(found)}
    for tagged in by_tag.values():
        free = [op for op in tagged if index[id(op)] not in pinned]
        ninja = {id(op): parts for op in free if (parts := _ninja_parts(op.get("operationId")))}
        # Locked names, then names that are not Ninja's, stay as they are and are taken first.
        taken = {snake_case(renamed[index[id(op)]]) for op in tagged if index[id(op)] in pinned}
        taken |= {
            snake_case(str(op.get("operationId"))) for op in free if id(op) not in ninja and op.get("operationId")
        }
        by_function: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)
        owner: dict[tuple[str, str], int] = {}
        for op_id, (module, function) in ninja.items():
            by_function[snake_case(function)].append((module, function))
            owner[(module, function)] = op_id
        for function, pairs in sorted(by_function.items()):
            pairs.sort(key=lambda pair: (len(pair[0].split("_")), pair[0]))
            if function not in taken:
                taken.add(function)
                renamed[index[owner[pairs[0]]]] = pairs[0][1]
                pairs = pairs[1:]
            if pairs:
                names = _qualified_names(pairs, taken | set(by_function))
                taken.update(names.values())
                for pair, name in names.items():
                    renamed[index[owner[pair]]] = name
    spec = copy.deepcopy(spec)
    for position, (_, _, operation) in enumerate(operations(spec)):
        if position in renamed:
            operation["operationId"] = renamed[position]
    return spec


def _singular_pascal(name: str) -> str:
    pascal = _pascal_case(name)
    return pascal[:-1] if pascal.endswith("s") and not pascal.endswith("ss") else pascal


def _ref(name: str) -> str:
    return f"#/components/schemas/{name}"


# Keys under which a schema holds no subschemas: their values are data, never visited.
_DATA_KEYS = frozenset({"discriminator", "enum", "const", "default", "example", "examples", "required"})


def _discriminated_unions(node: Any, hint: str | None = None) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Every discriminated ``oneOf``/``anyOf`` in the document, with the property it belongs to.

    A union can be a property, the items of an array property, wrapped in a nullable
    ``anyOf [union, null]``, a response or request body, or the items of one: all are found.
    """
    if isinstance(node, list):
        for value in node:
            yield from _discriminated_unions(value)
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("discriminator"), dict) and (node.get("oneOf") or node.get("anyOf")):
        yield node, hint
    for key, value in node.items():
        if key in _DATA_KEYS:
            continue
        if key == "properties" and isinstance(value, dict):
            for name, prop in value.items():
                yield from _discriminated_unions(prop, name)
        elif key in ("items", "oneOf", "anyOf", "allOf") and isinstance(value, list | dict):
            # The items of a property, or the members of its nullable wrapper, are still that property.
            for member in value if isinstance(value, list) else [value]:
                yield from _discriminated_unions(member, hint)
        else:
            yield from _discriminated_unions(value)


def _class_name(name: str) -> str:
    """The class name the generator makes of a schema title (it drops ``_``, so ``X_`` is ``X``)."""
    return str(ClassName(name, prefix=""))


def _common_suffix(titles: list[str]) -> str:
    """The longest run of trailing PascalCase words shared by every title (``DeviceOutput``)."""
    split = [re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", title) for title in titles]
    common: list[str] = []
    for words in zip(*(reversed(w) for w in split), strict=False):
        if len(set(words)) != 1:
            break
        common.insert(0, words[0])
    return "".join(common)


def open_discriminated_unions(spec: Spec) -> Spec:
    """Add a catch-all member to every discriminated union, wherever it is.

    Podero says new ``actions[].code`` values and device types will appear. The catch-all
    (for ``actions``: ``UnknownAction``) has only the discriminator property and keeps every
    other field in ``additional_properties``; the union template dispatches on the
    discriminator and falls back to it. A union that already accepts any discriminator
    value is left alone.

    Naming, in the order schemas, responses, request bodies: ``Unknown`` + the singular
    of the property (``actions`` -> ``UnknownAction``), or, for a body or a list of
    bodies, of the discriminator without ``_type`` (``device_type`` -> ``UnknownDevice``).
    Unions with the same discriminator and members
    (the ``actions`` list repeated on every device detail) share one catch-all. A
    different union that would get a taken name gets the members' common title suffix
    (``UnknownDeviceOnboardingInput``), then a number; names are compared as the generator's
    class names, so no two catch-alls can merge into one class.
    """
    spec = copy.deepcopy(spec)
    schemas: dict[str, Any] = spec.get("components", {}).get("schemas", {})
    taken = {_class_name(str(schema.get("title", key))) for key, schema in schemas.items() if isinstance(schema, dict)}
    taken |= {_class_name(key) for key in schemas}
    catch_alls: dict[tuple[str, frozenset[str]], str] = {}
    added: dict[str, Any] = {}
    # What the client reads is named first: schemas, then responses, then the rest (request bodies).
    roots = [schemas, *(operation.get("responses") for _, _, operation in operations(spec)), spec]
    seen: set[int] = set()
    sites = [site for root in roots for site in _discriminated_unions(root)]
    for union, hint in sites:
        if id(union) in seen:
            continue
        seen.add(id(union))
        discriminator = union["discriminator"].get("propertyName")
        members = union.get("oneOf") or union.get("anyOf")
        if not isinstance(discriminator, str) or not isinstance(members, list):
            continue
        refs = [m["$ref"] for m in members if isinstance(m, dict) and isinstance(m.get("$ref"), str)]
        targets = [_schema(toolkit.deref(spec, {"$ref": ref})) for ref in refs]
        if any(_accepts_any_value(target, discriminator) for target in targets):
            continue  # it has its catch-all already
        identity = (discriminator, frozenset(refs))
        name = catch_alls.get(identity)
        if name is None:
            subject = _singular_pascal(hint) if hint else _pascal_case(re.sub(r"_(type|kind)$", "", discriminator))
            base = f"Unknown{subject}"
            titles = [
                str(target.get("title", ref.rsplit("/", 1)[-1])) for ref, target in zip(refs, targets, strict=True)
            ]
            suffix = _common_suffix(titles)
            candidates = [base, f"{base}{suffix}"] if suffix and not base.endswith(suffix) else [base]
            candidates += [f"{base}{number}" for number in range(2, 100)]
            name = next(candidate for candidate in candidates if _class_name(candidate) not in taken)
            taken.add(_class_name(name))
            catch_alls[identity] = name
            what = f"A `{hint}` item" if hint else "An object"
            added[name] = {
                "title": name,
                "description": f"{what} whose `{discriminator}` this client does not know yet.",
                "type": "object",
                "properties": {discriminator: {"title": _pascal_case(discriminator), "type": "string"}},
                "required": [discriminator],
                "additionalProperties": True,
            }
        members.append({"$ref": _ref(name)})
    if added:
        spec.setdefault("components", {}).setdefault("schemas", {}).update(added)
    return spec


def _schema(node: Any) -> dict[str, Any]:
    return node if isinstance(node, dict) else {}


def _accepts_any_value(schema: dict[str, Any], discriminator: str) -> bool:
    """True for a member whose discriminator property is a free string: a catch-all."""
    prop = schema.get("properties", {}).get(discriminator)
    return isinstance(prop, dict) and "const" not in prop and "enum" not in prop and "$ref" not in prop


RULES: tuple[Rule, ...] = (
    stringify_discriminator_mappings,
    pin_discriminator_values,
    dedupe_schema_titles,
    shorten_operation_ids,
    open_discriminated_unions,
)


def normalize(spec: Spec, lock: Lock | None = None) -> Spec:
    """Apply every rule, in order; ``lock`` keeps the operations' names (shorten_operation_ids)."""
    for rule in RULES:
        spec = shorten_operation_ids(spec, lock) if rule is shorten_operation_ids else rule(spec)
    return spec
