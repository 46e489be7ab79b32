"""The Python API a generated package offers, read from its files, and what breaks from one to the next.

The breaking-change gate decides on this, not on the spec: whatever path a spec change takes
(a ``$ref`` into ``components/responses``, ``parameters`` or ``requestBodies``, an inline or
nested schema, an ``allOf`` member, a path-level parameter, 3.0 ``nullable`` or a 3.1 type
array), it ends up in the generated signatures and attributes that users program against.

Read with ``ast`` (nothing is imported): every resource method (``api/<tag>/__init__.py``) with
its parameters (name, kind, type, required) and return type; every model (``models/``) with
its attributes' types and requiredness; every enum with its members' values. Types are compared
as written, unions as sets of members, with module-level aliases expanded.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple


class Parameter(NamedTuple):
    name: str
    kind: str  # "positional" or "keyword"
    annotation: str
    required: bool


class Method(NamedTuple):
    parameters: tuple[Parameter, ...]
    returns: str


class Attribute(NamedTuple):
    annotation: str
    required: bool


class Surface(NamedTuple):
    methods: dict[str, Method]  # "UserWallboxes.retrieve_wallbox"
    models: dict[str, dict[str, Attribute]]  # "OwnerOutput" -> {"id": ...}
    enums: dict[str, dict[str, object]]  # "PriceZone" -> {"AT": "AT"}


class _Types(ast.NodeTransformer):
    """An annotation with aliases expanded and union members sorted: one spelling per type."""

    def __init__(self, aliases: dict[str, ast.expr]) -> None:
        self.aliases = aliases

    def visit_Name(self, node: ast.Name) -> ast.AST:
        alias = self.aliases.get(node.id)
        return self.visit(alias) if alias is not None else node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if not isinstance(node.op, ast.BitOr):
            return self.generic_visit(node)
        members = sorted({ast.unparse(self.visit(member)) for member in _union_members(node)})
        return ast.parse(" | ".join(members), mode="eval").body


def _union_members(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union_members(node.left) + _union_members(node.right)
    return [node]


def _text(annotation: ast.expr | None, aliases: dict[str, ast.expr]) -> str:
    if annotation is None:
        return ""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):  # a quoted forward reference
        annotation = ast.parse(annotation.value, mode="eval").body
    return ast.unparse(_Types(aliases).visit(annotation))


def _aliases(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level ``Name = <type>`` and ``Name: TypeAlias = <type>`` of union or subscript shape."""
    found: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.BinOp | ast.Subscript):
            names = [target.id for target in node.targets if isinstance(target, ast.Name)]
            found.update(dict.fromkeys(names, node.value))
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.value is not None
            and ast.unparse(node.annotation).endswith("TypeAlias")
        ):
            found[node.target.id] = node.value
    return found


def _method(function: ast.FunctionDef | ast.AsyncFunctionDef, aliases: dict[str, ast.expr]) -> Method:
    arguments = function.args
    positional = [*arguments.posonlyargs, *arguments.args][1:]  # without self
    defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    parameters = [
        Parameter(argument.arg, "positional", _text(argument.annotation, aliases), default is None)
        for argument, default in zip(positional, defaults, strict=True)
    ]
    parameters += [
        Parameter(argument.arg, "keyword", _text(argument.annotation, aliases), default is None)
        for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
    ]
    return Method(tuple(parameters), _text(function.returns, aliases))


def read(package: Path) -> Surface:
    """The public API of the generated package at ``package``."""
    surface = Surface({}, {}, {})
    for file in sorted((package / "api").glob("*/__init__.py")):
        tree = ast.parse(file.read_text())
        aliases = _aliases(tree)
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and not item.name.startswith("_"):
                        surface.methods[f"{node.name}.{item.name}"] = _method(item, aliases)
    # The resources' attributes (``Resources.user_wallboxes``) are read as a model's.
    for file in [package / "api" / "__init__.py", *sorted((package / "models").glob("*.py"))]:
        tree = ast.parse(file.read_text())
        aliases = _aliases(tree)
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            if any(ast.unparse(base).endswith("Enum") for base in node.bases):
                surface.enums[node.name] = {
                    target.id: item.value.value
                    for item in node.body
                    if isinstance(item, ast.Assign) and isinstance(item.value, ast.Constant)
                    for target in item.targets
                    if isinstance(target, ast.Name)
                }
            else:
                built = file.parent.name == "models"  # users build models; the resources only read
                surface.models[node.name] = {
                    item.target.id: Attribute(_text(item.annotation, aliases), built and item.value is None)
                    for item in node.body
                    if isinstance(item, ast.AnnAssign)
                    and isinstance(item.target, ast.Name)
                    and not item.target.id.startswith("_")
                }
    return surface


def _members(annotation: str) -> str:
    return annotation or "no annotation"


def _compare_method(where: str, old: Method, new: Method) -> list[str]:
    found: list[str] = []
    now = {parameter.name: parameter for parameter in new.parameters}
    was = {parameter.name: parameter for parameter in old.parameters}
    for parameter in old.parameters:
        if parameter.name not in now:
            found.append(f"{where}: parameter {parameter.name} removed")
            continue
        current = now[parameter.name]
        if current.annotation != parameter.annotation:
            found.append(f"{where}: parameter {parameter.name} type {parameter.annotation} -> {current.annotation}")
        if current.kind != parameter.kind:
            found.append(f"{where}: parameter {parameter.name} now {current.kind}")
        if current.required and not parameter.required:
            found.append(f"{where}: parameter {parameter.name} now required")
    old_positions = [p.name for p in old.parameters if p.kind == "positional"]
    new_positions = [p.name for p in new.parameters if p.kind == "positional" and p.name in was]
    if [name for name in old_positions if name in now] != new_positions:
        found.append(
            f"{where}: positional parameters reordered ({', '.join(old_positions)} -> {', '.join(new_positions)})"
        )
    for parameter in new.parameters:
        if parameter.name not in was and parameter.required:
            found.append(f"{where}: new required parameter {parameter.name}")
    if old.returns != new.returns:
        found.append(f"{where}: returns {_members(old.returns)} -> {_members(new.returns)}")
    return found


def breakages(old: Surface, new: Surface) -> list[str]:
    """What code written against ``old`` finds broken in ``new``: one line each, in a stable order."""
    found: list[str] = []
    for name in sorted(old.methods):
        if name not in new.methods:
            found.append(f"{name}: method removed")
        else:
            found.extend(_compare_method(name, old.methods[name], new.methods[name]))
    for name in sorted(old.models):
        if name not in new.models:
            found.append(f"{name}: model removed")
            continue
        was, now = old.models[name], new.models[name]
        for attribute in sorted(was.keys() | now.keys()):
            if attribute not in now:
                found.append(f"{name}.{attribute}: attribute removed")
            elif attribute not in was:
                if now[attribute].required:  # code that builds the model must now pass it
                    found.append(f"{name}.{attribute}: new required attribute")
            else:
                if was[attribute].annotation != now[attribute].annotation:
                    found.append(f"{name}.{attribute}: type {was[attribute].annotation} -> {now[attribute].annotation}")
                if was[attribute].required != now[attribute].required:
                    found.append(f"{name}.{attribute}: now {'required' if now[attribute].required else 'optional'}")
    for name in sorted(old.enums):
        if name not in new.enums:
            found.append(f"{name}: enum removed")
            continue
        for member, value in old.enums[name].items():
            if member not in new.enums[name]:
                found.append(f"{name}.{member}: enum member removed")
            elif new.enums[name][member] != value:
                found.append(f"{name}.{member}: value {value!r} -> {new.enums[name][member]!r}")
    return found
