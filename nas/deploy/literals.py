"""Python literals for exported modules: plain values (numbers, strings via ``repr``, containers,
dataclasses defined in the inlined source) written out, then parsed back and checked so that
nothing but a literal can reach the module."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import math
import sys
from collections.abc import Mapping
from typing import Any

from nas.errors import NasError


def to_literal(value: Any, classes: Mapping[str, type], indent: int = 0, width: int = 100) -> str:
    """Python source for ``value``: None, bool, int, float, str, list, tuple, dict, or a
    dataclass / named tuple whose class is one of ``classes`` (name -> class); else NasError.

    Containers longer than ``width`` characters are written one item per line.
    """
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return repr(value)
    if kind is float:
        return repr(value) if math.isfinite(value) else f"float({str(value)!r})"
    open_, items, close = _parts(value, kind, classes, indent + 4, width)
    flat = open_ + ", ".join(items) + ("," if kind is tuple and len(items) == 1 else "") + close
    if len(flat) <= width or not items:
        return flat
    pad = " " * (indent + 4)
    return open_ + "\n" + "".join(f"{pad}{item},\n" for item in items) + " " * indent + close


def _parts(
    value: Any,
    kind: type,
    classes: Mapping[str, type],
    indent: int,
    width: int,
) -> tuple[str, list[str], str]:
    """Opening text, item texts and closing text of a container literal."""

    def lit(item: Any) -> str:
        return to_literal(item, classes, indent, width)

    if kind is list:
        return "[", [lit(v) for v in value], "]"
    if kind is tuple:
        return "(", [lit(v) for v in value], ")"
    if kind is dict:
        for key in value:
            if type(key) not in (str, int, bool, float) and key is not None:
                raise NasError(
                    f"cannot write a dict key of type {type(key).__name__} into an exported module"
                )
        return "{", [f"{lit(k)}: {lit(v)}" for k, v in value.items()], "}"
    if classes.get(kind.__name__) is kind:
        if dataclasses.is_dataclass(value):
            names = [f.name for f in dataclasses.fields(value) if f.init]
            return f"{kind.__name__}(", [f"{n}={lit(getattr(value, n))}" for n in names], ")"
        if isinstance(value, tuple) and hasattr(kind, "_fields"):
            return f"{kind.__name__}(", [f"{n}={lit(getattr(value, n))}" for n in kind._fields], ")"
    raise NasError(
        f"cannot write a {kind.__module__}.{kind.__qualname__} into an exported module; network "
        "arguments must be numbers, strings, booleans, None, lists, tuples, dicts or dataclasses "
        "defined beside the network"
    )


def check_literal(text: str, class_names: set[str]) -> None:
    """Parse generated literal source and refuse anything but literals and the allowed constructors."""
    allowed = (
        ast.Expression,
        ast.Constant,
        ast.List,
        ast.Tuple,
        ast.Dict,
        ast.Load,
        ast.keyword,
        ast.Call,
        ast.Name,
        ast.UnaryOp,
        ast.USub,
    )
    tree = ast.parse(text, mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            raise NasError(
                f"generated literal contains a {type(node).__name__}; refusing to export"
            )
        if isinstance(node, ast.Call):
            ok_float = (
                isinstance(node.func, ast.Name)
                and node.func.id == "float"
                and len(node.args) == 1
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value in ("inf", "-inf", "nan")
            )
            if not ok_float and not (
                isinstance(node.func, ast.Name) and node.func.id in class_names and not node.args
            ):
                raise NasError(
                    "generated literal calls something other than a known dataclass; refusing to export"
                )
        if isinstance(node, ast.Name) and node.id not in class_names | {"float"}:
            raise NasError(f"generated literal names {node.id!r}; refusing to export")


def classes_of(modules: list[str], defined: set[str]) -> dict[str, type]:
    """The classes the inlined modules define (looked up in the imported modules)."""
    out: dict[str, type] = {}
    for module in modules:
        mod = sys.modules.get(module) or importlib.import_module(module)
        for name in defined:
            obj = getattr(mod, name, None)
            if isinstance(obj, type) and obj.__module__ == module:
                out[name] = obj
    return out


def plain_or_str(value: Any, classes: Mapping[str, type]) -> Any:
    """``value`` if it can be written as a literal, else its ``str``."""
    try:
        to_literal(value, classes)
    except NasError:
        return str(value)
    return value
