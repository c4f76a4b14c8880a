"""Export architectures as standalone Python modules that depend only on torch.

An exported module holds the network's source (inlined from the space's own modules), the
architecture and the constructor arguments as Python literals, and ``build_model()``; the
weights, when there are any, lie beside it as a ``torch.save`` state dict that
``build_model`` loads with ``torch.load(..., weights_only=True)``.

Nothing read from a config, a run folder or an architecture file is executed or pasted in as
code: architectures are validated against their space, and every value written into the module
is generated from plain Python values (numbers, strings via ``repr``, containers, dataclasses
defined in the inlined source), then checked again by parsing the generated literal.
"""

from __future__ import annotations

import ast
import importlib.util
import keyword
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.arch import Choice, arch_id
from nas.costs.measure import count_params
from nas.deploy.inline import inline_module
from nas.deploy.literals import check_literal, classes_of, plain_or_str, to_literal
from nas.errors import NasError
from nas.results.weights import load_state_checked, read_plain
from nas.space import Exportable, NetworkSpec, SearchSpace, instantiate
from nas.tasks import task_named
from nas.tasks.base import check_output

#: Names the generated part of an exported module defines (the inlined source may not).
GENERATED_NAMES = frozenset(
    {
        "SPACE",
        "SPACE_OPTIONS",
        "ARCH",
        "ARCH_TEXT",
        "ARCH_ID",
        "TRIAL",
        "TASK",
        "NUM_CLASSES",
        "INPUT_SHAPE",
        "NETWORK_KWARGS",
        "METRICS",
        "WEIGHTS_FILE",
        "build_model",
        "os",
        "torch",
    }
)
#: What an exported network's output is, by task (its module docstring says so).
OUTPUTS = {
    "classification": "(N, C, H, W) images to (N, classes) logits",
    "segmentation": "(N, C, H, W) images to (N, classes, H, W) logits",
}
PACKAGE_INIT = (
    '"""Networks exported by nas: import one module each and call its build_model()."""\n'
)


def check_module_name(name: str) -> str:
    """``name`` if it can be an importable module name, else NasError."""
    if not name.isidentifier() or keyword.iskeyword(name) or not name.isascii():
        raise NasError(
            f"{name!r} cannot be a module name; use letters, digits and underscores "
            "(not starting with a digit)"
        )
    return name


def check_export_targets(out_dir: str | Path, names: list[str]) -> Path:
    """``out_dir``, once sure that modules ``names`` can be written into it (NasError otherwise,
    before anything is written): it is a folder or can be made one, and no NAME.py / NAME.pt
    there is a folder."""
    out = Path(out_dir)
    for part in (out, *out.parents):  # the nearest part that exists must be a folder
        if part.is_dir():
            break
        if part.exists():
            where = "is a file" if part == out else f"lies under {str(part)!r}, which is a file"
            raise NasError(
                f"cannot export into {str(out)!r}: it {where}, not a folder; pass --out a "
                "folder (it is created if missing), or move the file away"
            )
    for name in names:
        for target in (out / f"{name}.py", out / f"{name}.pt", out / "__init__.py"):
            if target.is_dir():
                raise NasError(
                    f"cannot write {str(target)!r}: it is a folder; move it away, or pass "
                    "another --out or --name"
                )
    return out


def render_module(
    spec: NetworkSpec,
    *,
    name: str,
    space: str,
    space_options: Mapping[str, Any],
    arch: Mapping[str, Choice],
    arch_text: str,
    input_shape: tuple[int, int, int],
    metrics: Mapping[str, Any],
    weights_file: str | None,
    trial: int | None = None,
    task: str = "classification",
) -> str:
    """The source of the standalone module for one network."""
    inlined = inline_module(spec.module)
    taken = sorted(inlined.defined & GENERATED_NAMES)
    if taken:
        raise NasError(
            f"cannot export: {spec.module} defines {taken[0]!r}, a name exported modules reserve"
        )
    if spec.cls not in inlined.defined:
        raise NasError(f"network class {spec.cls!r} is not defined at the top of {spec.module}")
    kwargs = dict(spec.kwargs)
    if type(kwargs.get("num_classes")) is not int:
        raise NasError(f"the network spec of space {space!r} must pass num_classes as an int")
    num_classes = kwargs.pop("num_classes")
    classes = classes_of(inlined.modules, inlined.defined)
    names = set(classes)
    plain: dict[str, Any] = {k: v for k, v in metrics.items() if type(v) in (int, float, bool, str)}
    constants = {
        "SPACE": space,
        "SPACE_OPTIONS": dict(space_options),
        "ARCH": dict(arch),
        "ARCH_TEXT": arch_text,
        "ARCH_ID": arch_id(arch),
        "TRIAL": trial,
        "TASK": task,
        "NUM_CLASSES": num_classes,
        "INPUT_SHAPE": tuple(input_shape),
        "NETWORK_KWARGS": kwargs,
        "METRICS": plain,
        "WEIGHTS_FILE": weights_file,
    }
    # provenance only: an option that is not a plain value is recorded as its string
    constants["SPACE_OPTIONS"] = {
        k: plain_or_str(v, classes) for k, v in constants["SPACE_OPTIONS"].items()
    }
    lines = []
    for key, value in constants.items():
        text = to_literal(value, classes)
        check_literal(text, names)
        lines.append(f"{key} = {text}")
    imports = list(dict.fromkeys(["import os", "import torch", *inlined.imports]))
    return _TEMPLATE.format(
        name=name,
        aid=arch_id(arch),
        imports="\n".join(imports),
        code=inlined.code(),
        constants="\n".join(lines),
        cls=spec.cls,
        weights_name=f"{name}.pt",
        output=OUTPUTS.get(task, task),
    )


_TEMPLATE = '''"""{name}: a network found by nas, exported as a standalone module that needs only torch.

Architecture {aid}. ``build_model()`` builds it and, when ``{weights_name}`` lies beside this
file, loads its trained weights (``torch.load(..., weights_only=True)``). ``ARCH`` and
``ARCH_TEXT`` record the architecture, ``METRICS`` what the search or training measured, ``TASK``
what its output is ({output}).
"""

from __future__ import annotations

{imports}


{code}


# -------------------- the exported architecture --------------------

{constants}


def build_model(num_classes: int = NUM_CLASSES, *, pretrained: bool = True) -> torch.nn.Module:
    """The network; with ``pretrained`` and a weights file beside this module, with its weights."""
    model = {cls}(**NETWORK_KWARGS, num_classes=num_classes)
    if pretrained and WEIGHTS_FILE is not None:
        if num_classes != NUM_CLASSES:
            raise ValueError(f"the weights are for {{NUM_CLASSES}} classes; pass pretrained=False "
                             f"to build the network for {{num_classes}}")
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), WEIGHTS_FILE)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model
'''


def network_spec_of(
    space: SearchSpace,
    arch: Mapping[str, Choice],
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
) -> NetworkSpec:
    """The space's network spec for ``arch``, or a clear NasError when the space cannot export."""
    if not isinstance(space, Exportable):
        raise NasError(
            f"space {space.name or type(space).__name__!r} cannot be exported: it has no "
            "network_spec(arch, *, num_classes, input_shape) method (see nas.space.Exportable)"
        )
    c, h, w = input_shape
    return space.network_spec(space.validate(arch), num_classes=num_classes, input_shape=(c, h, w))


def export_model(
    space: SearchSpace,
    arch: Mapping[str, Choice],
    out_dir: str | Path,
    name: str,
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
    space_name: str | None = None,
    space_options: Mapping[str, Any] | None = None,
    state_dict: Mapping[str, torch.Tensor] | None = None,
    metrics: Mapping[str, Any] | None = None,
    trial: int | None = None,
) -> Path:
    """Write ``out_dir/name.py`` (and ``name.pt`` with ``state_dict``); returns the module's path."""
    arch = space.validate(arch)
    name = check_module_name(name)
    spec = network_spec_of(space, arch, num_classes=num_classes, input_shape=input_shape)
    reference = instantiate(spec)
    if state_dict is not None:
        load_state_checked(reference, state_dict, f"the weights of architecture {arch_id(arch)}")
    options = dict(space_options or {})
    text = render_module(
        spec,
        name=name,
        space=space_name or space.name,
        space_options=options,
        arch=arch,
        arch_text=space.format(arch),
        input_shape=input_shape,
        metrics=metrics or {},
        weights_file=f"{name}.pt" if state_dict is not None else None,
        trial=trial,
        task=space.task,
    )
    out = check_export_targets(out_dir, [name])
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NasError(f"cannot create the export folder {str(out)!r} ({exc.strerror})") from None
    if not (out / "__init__.py").exists():
        (out / "__init__.py").write_text(PACKAGE_INIT)
    weights = out / f"{name}.pt"
    if state_dict is not None:
        torch.save({k: v.detach().cpu().clone() for k, v in state_dict.items()}, weights)
    elif weights.exists():
        weights.unlink()  # an older export's weights would not belong to this network
    path = out / f"{name}.py"
    path.write_text(text)
    built = load_model(path, pretrained=state_dict is not None)
    if count_params(built) != count_params(reference):
        raise NasError(
            f"exported module {str(path)!r} builds a different network than the space; "
            "this is a bug in the space's network_spec"
        )
    with torch.no_grad():
        out = built.eval()(torch.zeros(1, *input_shape))
    check_output(task_named(space.task), out, num_classes, input_shape)
    return path


def _exported_file(path: str | Path) -> Path:
    """The module file: ``path`` itself, or the one module in the folder ``path``."""
    path = Path(path)
    if path.is_dir():
        modules = sorted(p for p in path.glob("*.py") if p.name != "__init__.py")
        if len(modules) != 1:
            listed = ", ".join(p.name for p in modules) or "none"
            raise NasError(
                f"{str(path)!r} holds {len(modules)} exported modules ({listed}); pass one .py file"
            )
        path = modules[0]
    if path.suffix != ".py" or not path.is_file():
        raise NasError(
            f"{str(path)!r} is not an exported module; pass the .py file nas export wrote"
        )
    return path


def load_model(path: str | Path, **kwargs: Any) -> nn.Module:
    """Build the network of an exported module (``DIR/name.py``, or a folder holding one module)
    with its weights when they were exported; keyword arguments go to its ``build_model``.

    This runs the module's code, exactly as ``import`` would; load only modules you trust.
    """
    path = _exported_file(path)
    module_name = f"_nas_exported_{abs(hash(str(path.resolve())))}_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[module_name] = module  # dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.modules.pop(module_name, None)
    if not callable(getattr(module, "build_model", None)):
        raise NasError(f"{str(path)!r} has no build_model(); is it a module nas export wrote?")
    return module.build_model(**kwargs)


def rebuild_exported(path: str | Path) -> nn.Module:
    """The network of an exported module rebuilt without running the module: its recorded
    ``SPACE``, ``SPACE_OPTIONS``, ``ARCH``, ``NUM_CLASSES`` and ``INPUT_SHAPE`` are read as
    literals, the space (by its registered name) builds the network, and the weights beside it
    load with ``weights_only=True``. For files named by a config, which must not execute code."""
    from nas.registry import SPACES

    path = _exported_file(path)
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (OSError, SyntaxError, ValueError) as exc:
        raise NasError(f"cannot read exported module {str(path)!r} ({exc})") from None
    wanted = {"SPACE", "SPACE_OPTIONS", "ARCH", "NUM_CLASSES", "INPUT_SHAPE", "WEIGHTS_FILE"}
    found: dict[str, Any] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in wanted
        ):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                raise NasError(
                    f"{str(path)!r}: {node.targets[0].id} is not a plain literal; rebuild it "
                    "with nas export"
                ) from None
    missing = sorted(wanted - set(found))
    if missing:
        raise NasError(f"{str(path)!r} is not a module nas export wrote (no {missing[0]})")
    space = SPACES.get(found["SPACE"])(**found["SPACE_OPTIONS"])
    model = space.build(
        space.validate(found["ARCH"]),
        num_classes=found["NUM_CLASSES"],
        input_shape=tuple(found["INPUT_SHAPE"]),
    )
    if found["WEIGHTS_FILE"] is not None:
        weights = path.parent / Path(found["WEIGHTS_FILE"]).name
        try:
            state = read_plain(weights)
        except NasError:
            raise
        except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same one-line error
            raise NasError(
                f"cannot read weights {str(weights)!r} ({type(exc).__name__}: {exc})"
            ) from None
        load_state_checked(model, state, str(weights))
    return model
