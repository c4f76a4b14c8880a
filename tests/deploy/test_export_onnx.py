"""ONNX export: `nas export --onnx` writes networks that onnxruntime runs with torch's outputs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from torch import nn

from nas import SPACES, create_space, load_model
from nas.cli.main import main
from nas.deploy.export import export_model
from nas.deploy.export_run import export_onnx
from nas.results.weights import load_weights
from nas.space import Exportable
from nas.training.loop import seeded
from tests.search_spaces.conftest import DEFAULT_INPUT_SHAPE, INPUT_SHAPES, SMALL_OPTIONS

EXPORTABLE = [
    n for n in SPACES.names() if isinstance(create_space(n, **SMALL_OPTIONS.get(n, {})), Exportable)
]


def run_onnx(path: Path, x: torch.Tensor) -> np.ndarray:
    """The logits onnxruntime computes for ``x`` with the model at ``path``."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    (logits,) = session.run(["logits"], {"images": x.numpy()})
    return logits


def assert_close(got: np.ndarray, expected: torch.Tensor) -> None:
    """Equal up to float32 rounding (relative to the logits' scale)."""
    want = expected.numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, float(np.abs(want).max()))


def randomise(model: nn.Module, seed: int) -> None:
    """Weights and BN statistics unlike a fresh network's (so an export that lost them shows),
    keeping the logits of order one (so a tight tolerance means something)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=g) + 0.5)
            elif tensor.dtype.is_floating_point:
                tensor.add_(0.1 * torch.randn(tensor.shape, generator=g))


def test_the_reference_spaces_export_to_onnx() -> None:
    assert {"nb201", "mbconv", "darts"} <= set(EXPORTABLE)


@pytest.mark.parametrize("name", EXPORTABLE)
def test_onnx_of_every_space_runs_in_onnxruntime_with_torchs_outputs(
    name: str, tmp_path: Path
) -> None:
    space = create_space(name, **SMALL_OPTIONS.get(name, {}))
    shape = INPUT_SHAPES.get(name, DEFAULT_INPUT_SHAPE)
    arch = space.sample(np.random.default_rng(5))
    with seeded(0):
        model = space.build(arch, num_classes=7, input_shape=shape)
    randomise(model, 1)
    module = export_model(
        space,
        arch,
        tmp_path / "exported",
        "net",
        num_classes=7,
        input_shape=shape,
        space_name=name,
        state_dict=model.state_dict(),
    )
    path = export_onnx(module, shape)
    assert path == tmp_path / "exported" / "net.onnx"
    model.eval()
    for batch in (1, 3):  # the export traced batch 2: the batch dimension is free
        x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = model(x)
        assert 0.1 < expected.abs().max() < 1e3
        assert_close(run_onnx(path, x), expected)


def test_nas_export_onnx_of_a_searched_run(searched_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "nets"
    assert main(["export", str(searched_run), "--best", "--onnx", "--out", str(out)]) == 0
    assert f"wrote {out / 'best.onnx'}" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == [
        "__init__.py",
        "best.onnx",
        "best.pt",
        "best.py",
    ]
    model = load_model(out / "best.py").eval()
    # the weights the search kept, not a fresh network's
    kept = load_weights(next((searched_run / "weights").glob("*.pt")))
    x = torch.randn(5, *kept.input_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x)
        fresh = load_model(out / "best.py", pretrained=False).eval()(x)
    assert not torch.allclose(expected, fresh)
    assert_close(run_onnx(out / "best.onnx", x), expected)


#: Runs export_run with --onnx in a fresh interpreter where onnxscript cannot be imported.
WITHOUT_ONNXSCRIPT = textwrap.dedent("""
    import importlib.abc, sys
    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "onnxscript":
                raise ImportError("No module named 'onnxscript'")
    sys.meta_path.insert(0, Refuse())
    from nas.errors import NasError
    from nas.deploy.export_run import export_run
    try:
        export_run(sys.argv[1], sys.argv[2], best=True, onnx=True)
    except NasError as exc:
        print(exc)
""")


def test_without_the_onnx_packages_one_clear_line_and_nothing_written(
    searched_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "nets"
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_ONNXSCRIPT, str(searched_run), str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip()
        == "--onnx needs the onnx and onnxscript packages: pip install onnx onnxscript"
    )
    assert not out.exists()
