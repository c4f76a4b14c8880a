"""Export: standalone modules that import in a fresh interpreter with torch alone, and refuse bad input."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nas import SPACES, NasError, create_space, load_model
from nas.arch import Choice
from nas.deploy.export import export_model
from nas.deploy.export_run import export_run
from nas.deploy.inline import inline_module
from nas.deploy.literals import check_literal, to_literal
from nas.results.weights import load_weights, weights_path
from nas.space import Exportable, SearchSpace
from nas.tasks import task_named
from nas.training.loop import seeded
from tests.search_spaces.conftest import DEFAULT_INPUT_SHAPE, INPUT_SHAPES, SMALL_OPTIONS

EXPORTABLE = [
    n for n in SPACES.names() if isinstance(create_space(n, **SMALL_OPTIONS.get(n, {})), Exportable)
]

#: Runs in a fresh, isolated interpreter: imports the exported package with 'nas' and
#: 'search_spaces' made unimportable, and prints its parameter count and output.
FRESH = textwrap.dedent("""
    import importlib.abc, json, sys
    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("nas", "search_spaces"):
                raise ImportError("an exported module must not import " + name)
    sys.meta_path.insert(0, Refuse())
    sys.path.insert(0, sys.argv[1])
    import torch
    torch.set_num_threads(1)  # as the test process (conftest): the same summation order
    module = __import__("exported." + sys.argv[2], fromlist=["build_model"])
    model = module.build_model().eval()
    x = torch.load(sys.argv[3], weights_only=True)
    with torch.no_grad():
        torch.save(model(x), sys.argv[4])
    print(json.dumps({"params": sum(p.numel() for p in model.parameters()), "arch": module.ARCH,
                      "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("nas", "search_spaces"))}))
""")


def test_the_reference_spaces_are_exportable() -> None:
    assert {"nb201", "mbconv", "darts"} <= set(EXPORTABLE)


def _randomise(model: nn.Module, seed: int) -> None:
    """Weights and BN statistics unlike a fresh network's, so that loading them is visible."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.dtype.is_floating_point:
                tensor.copy_(torch.rand(tensor.shape, generator=g) + 0.5)


@pytest.mark.parametrize("name", EXPORTABLE)
def test_exported_module_rebuilds_the_same_network_in_a_fresh_interpreter(
    name: str, tmp_path: Path
) -> None:
    space = create_space(name, **SMALL_OPTIONS.get(name, {}))
    shape = INPUT_SHAPES.get(name, DEFAULT_INPUT_SHAPE)
    arch = space.sample(np.random.default_rng(5))
    with seeded(0):
        model = space.build(arch, num_classes=7, input_shape=shape)
    _randomise(model, 1)
    export_model(
        space,
        arch,
        tmp_path / "exported",
        "net",
        num_classes=7,
        input_shape=shape,
        space_name=name,
        state_dict=model.state_dict(),
        metrics={"val_accuracy": 50.0},
    )
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(2))
    torch.save(x, tmp_path / "x.pt")
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            FRESH,
            str(tmp_path),
            "net",
            str(tmp_path / "x.pt"),
            str(tmp_path / "y.pt"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["loaded"] == [] and info["arch"] == arch
    assert info["params"] == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        expected = model.eval()(x)
    assert torch.equal(torch.load(tmp_path / "y.pt", weights_only=True), expected)
    # the same through nas.load_model, and without weights a fresh network of the same size
    assert torch.equal(load_model(tmp_path / "exported" / "net.py").eval()(x), expected)
    fresh = load_model(tmp_path / "exported" / "net.py", pretrained=False, num_classes=3)
    assert fresh(x).shape == (3, *task_named(space.task).output_shape(3, shape))


class NoExport(SearchSpace):
    """A space that builds networks but does not say how to export them."""

    name = "no_export"

    def decisions(self) -> dict[str, tuple[Choice, ...]]:
        return {"width": (2, 4)}

    def build(
        self,
        arch: Mapping[str, Choice],
        *,
        num_classes: int,
        input_shape: tuple[int, int, int] = (3, 32, 32),
    ) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), num_classes))


def test_a_space_without_network_spec_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(
        NasError, match="space 'no_export' cannot be exported: it has no network_spec"
    ):
        export_model(
            NoExport(), {"width": 2}, tmp_path, "net", num_classes=3, input_shape=(1, 4, 4)
        )
    assert not (tmp_path / "net.py").exists()


MALICIOUS = [
    (
        (
            '{"1<-0": "__import__(\'os\').system(\'touch PWNED\')", "2<-0": "none", "2<-1": "none", '
            '"3<-0": "none", "3<-1": "none", "3<-2": "none"}'
        ),
        "is not one of",
    ),
    (
        '{"1<-0": 3, "2<-0": "none", "2<-1": "none", "3<-0": "none", "3<-1": "none", "3<-2": "none"}',
        "is not one of",
    ),
    ('{"1<-0": ["none"], "2<-0": "none"}', "has a list value"),
    ('{"1<-0": {"__class__": "x"}}', "has a dict value"),
    ("[1, 2]", "must have 3 nodes"),
    ('{"1<-0": "none"} ', "lacks decision"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|__import__('os')~2|", "is not one of"),
]


@pytest.mark.parametrize("text, message", MALICIOUS)
def test_malicious_or_mistyped_architectures_are_refused(
    text: str, message: str, tmp_path: Path
) -> None:
    from nas.cli.main import main

    arch_file = tmp_path / "arch.json"
    arch_file.write_text(text)
    config = tmp_path / "c.yaml"
    config.write_text(
        "name: c\ntrials: 1\nspace: {name: nb201, channels: 4, cells_per_stage: 1}\n"
        "dataset: digits\nstrategy: random\nevaluator: partial\n"
    )
    with pytest.raises(NasError, match=message):
        main(
            [
                "--debug",
                "train",
                str(arch_file),
                "--config",
                str(config),
                f"--out={tmp_path / 'out'}",
            ]
        )
    assert not (tmp_path / "out").exists() and not Path("PWNED").exists()


class Sneaky(str):
    def __repr__(self) -> str:
        return "__import__('os').system('touch PWNED')"


def test_literals_come_from_plain_values_only() -> None:
    tricky = "a'b\"c\n\\x00 ''' \"\"\" }{ #"
    text = to_literal({"s": tricky, "n": [1, -2.5, float("inf"), None, True], "t": (3,)}, {})
    assert ast.literal_eval(text.replace("float('inf')", "1e999")) == {
        "s": tricky,
        "n": [1, -2.5, float("inf"), None, True],
        "t": (3,),
    }
    for bad in (Sneaky("x"), object(), np.int64(3), lambda: 0, {("a",): 1}):
        with pytest.raises(NasError, match="cannot write"):
            to_literal(bad, {})
    with pytest.raises(NasError, match="refusing to export"):
        check_literal("__import__('os').system('x')", set())
    with pytest.raises(NasError, match="refusing to export"):
        check_literal("[x.y for x in z]", set())


def _package(root: Path, files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A package 'evil' with ``files``, importable from ``root`` (an earlier test's one forgotten)."""
    for module in [m for m in sys.modules if m == "evil" or m.startswith("evil.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.syspath_prepend(str(root))
    (root / "evil").mkdir()
    (root / "evil" / "__init__.py").write_text("")
    for name, text in files.items():
        (root / "evil" / name).write_text(textwrap.dedent(text))


@pytest.mark.parametrize(
    "files, message",
    [
        (
            {"net.py": "import numpy\nclass Net: pass\n"},
            "imports 'numpy'; an exported network may import only",
        ),
        ({"net.py": "def f():\n    from evil.ops import g\n"}, "inside a function"),
        (
            {"net.py": "from evil.ops import g\ng = 1\n", "ops.py": "def g(): pass\n"},
            "'g' is defined in both",
        ),
        (
            {
                "net.py": "from evil.ops import g\n",
                "ops.py": "from evil.net import h\ndef g(): pass\n",
            },
            "circular imports",
        ),
        ({"net.py": "import evil.ops\n", "ops.py": ""}, "instead of 'import evil.ops'"),
    ],
)
def test_inlining_refuses_what_a_standalone_module_cannot_hold(
    files: dict[str, str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _package(tmp_path, files, monkeypatch)
    with pytest.raises(NasError, match=message):
        inline_module("evil.net")


def test_inlining_keeps_torch_and_stdlib_and_orders_dependencies(
    tmp_path: Path, monkeypatch
) -> None:
    _package(
        tmp_path,
        {
            "net.py": '"""The net."""\nfrom __future__ import annotations\nimport math\nfrom torch import nn\n'
            "from .ops import Op as Layer\nclass Net(nn.Module):\n    pass\n",
            "ops.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from evil.net import Net\n"
            "import torch\nclass Op:\n    pass\n",
        },
        monkeypatch,
    )
    inlined = inline_module("evil.net")
    assert inlined.modules == ["evil.ops", "evil.net"]
    assert inlined.imports == [
        "from typing import TYPE_CHECKING",
        "import torch",
        "import math",
        "from torch import nn",
    ]
    code = inlined.code()
    assert "Layer = Op" in code and "# The net." in code and "import" not in code.replace("# ", "")
    ast.parse(code)


def test_export_a_run_with_the_weights_the_search_kept(searched_run: Path, tmp_path: Path) -> None:
    from nas.results.reading import load_trials

    frame, _ = load_trials(searched_run)
    best = frame[frame["state"] == "complete"].iloc[0]
    written = export_run(searched_run, tmp_path / "nets", best=True)
    assert [(p.name, w) for p, w in written] == [("best.py", True)]
    space = create_space("nb201", channels=4, cells_per_stage=1)
    arch = space.parse(best["arch"])
    saved = load_weights(weights_path(searched_run, arch))
    model = space.build(arch, num_classes=saved.num_classes, input_shape=saved.input_shape)
    model.load_state_dict(saved.state_dict)
    x = torch.randn(4, *saved.input_shape)
    assert torch.equal(load_model(written[0][0]).eval()(x), model.eval()(x))
    text = written[0][0].read_text()
    assert f"TRIAL = {int(best['trial'])}" in text and repr(best["arch"]) in text

    several = export_run(searched_run, tmp_path / "nets", trials=[0, 1])
    assert [p.name for p, _ in several] == ["trial_0.py", "trial_1.py"]
    front = export_run(searched_run, tmp_path / "front", pareto=True)
    assert front and all(p.name.startswith("trial_") for p, _ in front)
    with pytest.raises(NasError, match="has no trial 99"):
        export_run(searched_run, tmp_path / "nets", trials=[99])
    with pytest.raises(NasError, match="trained for 10 classes"):
        export_run(searched_run, tmp_path / "nets", best=True, num_classes=3)


def test_load_model_refuses_what_is_not_one_exported_module(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("")
    (tmp_path / "b.py").write_text("")
    with pytest.raises(NasError, match="holds 2 exported modules"):
        load_model(tmp_path)
    with pytest.raises(NasError, match="has no build_model"):
        load_model(tmp_path / "a.py")
    with pytest.raises(NasError, match="is not an exported module"):
        load_model(tmp_path / "missing.py")


def test_space_options_that_are_not_plain_values_are_recorded_as_text(tmp_path: Path) -> None:
    space = create_space("nb201", channels=4, cells_per_stage=1)
    arch = space.sample(np.random.default_rng(0))
    path = export_model(
        space,
        arch,
        tmp_path,
        "net",
        num_classes=3,
        input_shape=(1, 8, 8),
        space_options={"root": tmp_path, "channels": 4},
    )
    text = path.read_text()
    assert f"SPACE_OPTIONS = {{'root': {str(tmp_path)!r}, 'channels': 4}}" in text
