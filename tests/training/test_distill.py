from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from nas import EVALUATORS, NasError, create_space
from nas.cli.main import main
from nas.config import Component, DistillConfig, TrainingConfig, resolve_config
from nas.deploy.export_run import export_run
from nas.evaluators import EvalContext
from nas.results.reading import load_trials
from nas.results.weights import weights_path
from nas.training.distill import classifier_of, hinton_loss, load_teacher, similarity_loss

SPACE = create_space("nb201", channels=4, cells_per_stage=1)
CPU = torch.device("cpu")


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("temperature,alpha", [(4.0, 0.9), (1.0, 0.5), (2.5, 0.0)])
def test_hinton_loss_matches_an_independent_computation(temperature: float, alpha: float) -> None:
    gen = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(6, 5, generator=gen) * 3, torch.randn(6, 5, generator=gen) * 3
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    s, t = student.double().numpy(), teacher.double().numpy()
    p_t, p_s = _softmax(t / temperature), _softmax(s / temperature)
    kl = np.mean(np.sum(p_t * (np.log(p_t) - np.log(p_s)), axis=1))
    ce = np.mean(-np.log(_softmax(s)[np.arange(6), labels.numpy()]))
    expected = alpha * temperature**2 * kl + (1 - alpha) * ce
    got = hinton_loss(
        student, teacher, F.cross_entropy(student, labels), temperature=temperature, alpha=alpha
    )
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_similarity_loss_compares_batch_similarities_across_widths() -> None:
    gen = torch.Generator().manual_seed(1)
    teacher = torch.randn(8, 12, generator=gen)
    assert similarity_loss(3.0 * teacher, teacher).item() == pytest.approx(0.0, abs=1e-6)
    student = torch.randn(8, 5, generator=gen)  # another width: no projection needed
    gs, gt = student.numpy() @ student.numpy().T, teacher.numpy() @ teacher.numpy().T
    gs /= np.linalg.norm(gs, axis=1, keepdims=True)
    gt /= np.linalg.norm(gt, axis=1, keepdims=True)
    assert similarity_loss(student, teacher).item() == pytest.approx(
        ((gs - gt) ** 2).sum() / 64, rel=1e-4
    )


@pytest.fixture(scope="module")
def teacher_module(searched_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ((module, has_weights),) = export_run(
        searched_run, tmp_path_factory.mktemp("teacher"), best=True
    )
    assert has_weights
    return module


def _partial(distill: DistillConfig | None, **options: object) -> dict:
    training = TrainingConfig(batch_size=64, threads=1, distill=distill)
    context = EvalContext(Component(name="digits"), training, 0, CPU)
    arch = SPACE.sample(np.random.default_rng(3))
    return EVALUATORS.get("partial")(context, epochs=1, data_fraction=0.3, **options).evaluate(
        arch, SPACE
    )


def test_teacher_from_an_exported_module_and_from_a_weights_file_agree(
    searched_run: Path, teacher_module: Path
) -> None:
    frame, _ = load_trials(searched_run)  # best first, as nas export --best picks
    best = frame[(frame["state"] == "complete") & frame["duplicate_of"].isna()].iloc[0]
    weights = weights_path(searched_run, SPACE.parse(best["arch"]))
    from_module = load_teacher(DistillConfig(teacher=str(teacher_module)), SPACE, CPU)
    from_weights = load_teacher(
        DistillConfig(teacher=str(weights), teacher_arch=best["arch"]), SPACE, CPU
    )
    x = torch.randn(4, 1, 8, 8)
    assert torch.equal(from_module(x), from_weights(x))
    with pytest.raises(NasError, match="teacher_arch"):
        load_teacher(DistillConfig(teacher=str(weights)), SPACE, CPU)
    with pytest.raises(NasError, match="does not exist"):
        load_teacher(DistillConfig(teacher=str(weights) + ".missing"), SPACE, CPU)


def test_a_teacher_module_named_by_a_config_is_never_run(
    teacher_module: Path, tmp_path: Path
) -> None:
    import shutil

    from nas.deploy.export import load_model

    folder = tmp_path / "teacher"
    shutil.copytree(teacher_module.parent, folder)
    module = folder / teacher_module.name
    marker = tmp_path / "ran"
    module.write_text(module.read_text() + f"\nopen({str(marker)!r}, 'w').write('code ran')\n")
    teacher = load_teacher(DistillConfig(teacher=str(module)), SPACE, CPU)
    assert not marker.exists()
    x = torch.randn(4, 1, 8, 8)
    assert torch.equal(
        teacher(x), load_model(teacher_module).eval()(x)
    )  # same network, same weights


def test_distillation_changes_training_and_alpha_zero_is_plain_training(
    teacher_module: Path,
) -> None:
    plain = _partial(None)
    no_soft = _partial(DistillConfig(teacher=str(teacher_module), alpha=0.0))
    assert no_soft["val_loss"] == plain["val_loss"] and no_soft["train_loss"] == plain["train_loss"]
    distilled = _partial(DistillConfig(teacher=str(teacher_module), features=50.0))
    assert distilled["train_loss"] != plain["train_loss"]


def test_feature_matching_taps_the_classifier_and_removes_its_hooks(teacher_module: Path) -> None:
    from nas.registry import DATASETS
    from nas.training.loop import train_model

    data = DATASETS.get("digits")()
    student = SPACE.build(
        SPACE.sample(np.random.default_rng(5)), num_classes=10, input_shape=(1, 8, 8)
    )
    head = classifier_of(student)
    assert isinstance(head, torch.nn.Linear) and head.out_features == 10
    cfg = TrainingConfig(
        batch_size=64, threads=1, distill=DistillConfig(teacher=str(teacher_module), features=10)
    )
    teacher = load_teacher(cfg.distill, SPACE, CPU)
    result = train_model(student, data, cfg, epochs=1, seed=0, device=CPU, teacher=teacher)
    assert np.isfinite(result.train_loss)
    assert not head._forward_pre_hooks and not classifier_of(teacher)._forward_pre_hooks
    with pytest.raises(NasError, match="no teacher"):
        train_model(student, data, cfg, epochs=1, seed=0, device=CPU)


def test_distill_section_is_validated(tiny_config: dict) -> None:
    config = resolve_config({**tiny_config, "training": {"distill": {"teacher": "t.py"}}})
    assert config.training.distill == DistillConfig(
        teacher="t.py", temperature=4.0, alpha=0.9, features=0.0
    )
    with pytest.raises(NasError, match="alpha"):
        resolve_config({**tiny_config, "training": {"distill": {"teacher": "t.py", "alpha": 1.5}}})


def test_nas_train_distils_from_the_command_line(teacher_module: Path, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "name: c\ntrials: 1\nspace: {name: nb201, channels: 4, cells_per_stage: 1}\n"
        "dataset: digits\nstrategy: random\nevaluator: partial\ntraining: {threads: 1}\n"
        f"output: {tmp_path / 'results'}\n"
    )
    arch = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_1x1~2|"
    assert (
        main(
            [
                "train",
                arch,
                "--config",
                str(config),
                "epochs=1",
                f"training.distill.teacher={teacher_module}",
                "training.distill.alpha=0.5",
                "--name",
                "kd",
                "--quiet",
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "results" / "c" / "trained" / "kd.json").read_text())
    assert summary["training"]["distill"]["teacher"] == str(teacher_module)
    assert summary["training"]["distill"]["alpha"] == 0.5
