"""Inline a network's source modules into one torch-only module (for ``nas export``).

The module that defines a network class, and the modules of the same top-level package it imports, are
read from disk and concatenated in dependency order. Their imports of torch and of the standard
library are kept (gathered at the top); imports of each other are dropped, since the names they
bring are then defined earlier in the same file; anything else is refused with a NasError, so
that an exported module never needs the toolkit or another package.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from nas.errors import NasError

#: Top-level packages an exported module may import besides the standard library.
ALLOWED_PACKAGES = frozenset({"torch"})


@dataclass
class InlinedSource:
    """The combined source: external imports, then each module's code in dependency order."""

    imports: list[str]
    modules: list[str]
    bodies: list[str]
    defined: set[str] = field(default_factory=set)

    def code(self) -> str:
        """The modules' code (imports left out), each under a comment naming where it came from."""
        return "\n\n\n".join(
            f"# {'-' * 20} inlined from {name} {'-' * 20}\n\n{body.strip()}"
            for name, body in zip(self.modules, self.bodies, strict=False)
        )


@dataclass
class _Parsed:
    name: str
    body: str
    deps: list[str]
    imports: list[ast.stmt]
    defined: set[str]


def inline_module(module: str) -> InlinedSource:
    """Inline ``module`` and the modules of its top-level package that it (transitively) imports
    (so that one space's network may reuse another's blocks, as unet reuses nb201's and mbconv's)."""
    package = module.partition(".")[0] if "." in module else ""
    parsed: dict[str, _Parsed] = {}
    order: list[str] = []
    _visit(module, package, parsed, order, [])
    imports = _merge_imports([stmt for name in order for stmt in parsed[name].imports])
    defined: dict[str, str] = {}
    for name in order:
        for symbol in parsed[name].defined:
            if symbol.startswith("__") and symbol.endswith("__"):
                continue  # __all__ and the like: harmless when a later module redefines them
            if symbol in defined:
                raise NasError(
                    f"cannot inline {module}: {symbol!r} is defined in both {defined[symbol]} "
                    f"and {name}; rename one of them"
                )
            defined[symbol] = name
    clash = sorted(set(defined) & _bound_names(imports))
    if clash:
        raise NasError(
            f"cannot inline {module}: {clash[0]!r} is both imported and defined ({defined[clash[0]]})"
        )
    return InlinedSource(
        [ast.unparse(s) for s in imports], order, [parsed[n].body for n in order], set(defined)
    )


def _visit(
    name: str, package: str, parsed: dict[str, _Parsed], order: list[str], stack: list[str]
) -> None:
    if name in stack:
        raise NasError(f"cannot inline {stack[0]}: circular imports {' -> '.join([*stack, name])}")
    if name in parsed:
        return
    parsed[name] = _parse(name, package)
    for dep in parsed[name].deps:
        _visit(dep, package, parsed, order, [*stack, name])
    order.append(name)


def _source_of(name: str) -> str:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        raise NasError(f"cannot find module {name!r} to inline ({exc})") from None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise NasError(f"module {name!r} has no Python source file to inline")
    return Path(spec.origin).read_text(encoding="utf-8")


def _parse(name: str, package: str) -> _Parsed:
    source = _source_of(name)
    tree = ast.parse(source, filename=name)
    lines = source.splitlines()
    removed: dict[int, str] = {}  # first line of a removed statement -> replacement text
    spans: list[tuple[int, int]] = []
    deps: list[str] = []
    imports: list[ast.stmt] = []
    for index, stmt in enumerate(tree.body):
        replacement = _top_level(stmt, index, name, package, deps, imports)
        if replacement is not None:
            spans.append((stmt.lineno, stmt.end_lineno or stmt.lineno))
            removed[stmt.lineno] = replacement
    _check_nested_imports(tree, name, package)
    kept = {
        n
        for s in tree.body
        if (s.lineno, s.end_lineno or s.lineno) not in spans
        for n in _defines(s)
    }
    body = _cut(lines, spans, removed, name)
    return _Parsed(name, body, deps, imports, kept)


def _top_level(
    stmt: ast.stmt, index: int, name: str, package: str, deps: list[str], imports: list[ast.stmt]
) -> str | None:
    """None to keep ``stmt``; otherwise the text that replaces it (possibly empty)."""
    if (
        index == 0
        and isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    ):
        return f"# {stmt.value.value.strip().splitlines()[0]}" if stmt.value.value.strip() else ""
    if isinstance(stmt, ast.If) and _is_type_checking(stmt.test) and not stmt.orelse:
        return ""  # imports for type checkers only
    if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
        return ""
    if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return None
    target = _internal_target(stmt, name, package)
    if target is None:
        _check_external(stmt, name)
        imports.append(stmt)
        return ""
    deps.append(target)
    return "\n".join(
        f"{a.asname} = {a.name}" for a in stmt.names if a.asname and a.asname != a.name
    )


def _internal_target(stmt: ast.Import | ast.ImportFrom, name: str, package: str) -> str | None:
    """The same-package module ``stmt`` imports names from, or None for an external import."""
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if package and (alias.name == package or alias.name.startswith(package + ".")):
                raise NasError(
                    f"cannot inline {name}: write 'from {alias.name} import NAME' instead of "
                    f"'import {alias.name}'"
                )
        return None
    module = stmt.module or ""
    if stmt.level:
        base = name.split(".")[: -stmt.level]
        module = ".".join([*base, module] if module else base)
    if not package or not (module == package or module.startswith(package + ".")):
        return None
    if module == package:
        raise NasError(
            f"cannot inline {name}: it imports from the package {package!r} itself; import "
            "from the module that defines the names instead"
        )
    if any(a.name == "*" for a in stmt.names):
        raise NasError(f"cannot inline {name}: 'from {module} import *' hides which names it uses")
    return module


def _check_external(stmt: ast.Import | ast.ImportFrom, name: str) -> None:
    modules = [a.name for a in stmt.names] if isinstance(stmt, ast.Import) else [stmt.module or ""]
    for module in modules:
        top = module.split(".")[0]
        if getattr(stmt, "level", 0) or not (
            top in ALLOWED_PACKAGES or top in sys.stdlib_module_names
        ):
            raise NasError(
                f"cannot export: {name} imports {module or '.'!r}; an exported network may import only "
                f"torch, the standard library and modules of its own package"
            )


def _check_nested_imports(tree: ast.Module, name: str, package: str) -> None:
    top = {id(s) for s in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
            if _inside_type_checking(tree, node):
                continue
            if _internal_target(node, name, package) is not None:
                raise NasError(
                    f"cannot inline {name}: it imports from its own package inside a function "
                    f"(line {node.lineno}); import at the top of the module instead"
                )
            _check_external(node, name)


def _inside_type_checking(tree: ast.Module, node: ast.AST) -> bool:
    return any(
        isinstance(s, ast.If) and _is_type_checking(s.test) and node in list(ast.walk(s))
        for s in tree.body
    )


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _cut(lines: list[str], spans: list[tuple[int, int]], removed: dict[int, str], name: str) -> str:
    starts = {start: end for start, end in spans}
    out: list[str] = []
    line_no = 1
    while line_no <= len(lines):
        if line_no in starts:
            if removed[line_no]:
                out.append(removed[line_no])
            line_no = starts[line_no] + 1
            continue
        out.append(lines[line_no - 1])
        line_no += 1
    covered = {n for s, e in spans for n in range(s, e + 1)}
    if len(covered) != sum(e - s + 1 for s, e in spans):
        raise NasError(f"cannot inline {name}: put each import statement on its own line")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)) + "\n"


def _defines(stmt: ast.stmt) -> set[str]:
    """Top-level names a statement binds."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    names: set[str] = set()
    for target in targets:
        names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def _bound_names(imports: list[ast.stmt]) -> set[str]:
    out: set[str] = set()
    for stmt in imports:
        for alias in stmt.names:  # type: ignore[attr-defined]
            out.add(alias.asname or alias.name.split(".")[0])
    return out


def _merge_imports(stmts: list[ast.stmt]) -> list[ast.stmt]:
    """Drop repeated imports; refuse two imports that bind one name to different things."""
    seen: dict[str, ast.stmt] = {}
    bound: dict[str, str] = {}
    for stmt in stmts:
        text = ast.unparse(stmt)
        if text in seen:
            continue
        seen[text] = stmt
        for alias in stmt.names:  # type: ignore[attr-defined]
            key = alias.asname or alias.name.split(".")[0]
            module = getattr(stmt, "module", None)
            what = f"{module}.{alias.name}" if module else (alias.name if alias.asname else key)
            if bound.setdefault(key, what) != what:
                raise NasError(
                    f"cannot inline: the name {key!r} is imported as both {bound[key]} and {what}"
                )
    return list(seen.values())
