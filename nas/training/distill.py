"""Knowledge distillation for the shared training loop (config section ``training.distill``).

The student's loss mixes the hard labels with a trained teacher's softened outputs (Hinton et
al., 2015)::

    alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, labels)

and, optionally, matches the teacher's penultimate features (the input of the final classifier)
with similarity-preserving distillation (Tung & Mori, 2019): the batch's pairwise similarity
matrices of student and teacher features are compared, so the two widths need not agree and no
projection has to be learnt.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from nas.config import DistillConfig
from nas.errors import NasError
from nas.space import SearchSpace


def hinton_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    hard_loss: torch.Tensor,
    *,
    temperature: float,
    alpha: float,
) -> torch.Tensor:
    """``alpha * T^2 * KL(p_teacher || p_student) + (1 - alpha) * hard_loss``, KL averaged over the batch."""
    soft = F.kl_div(
        F.log_softmax(student.float() / temperature, dim=1),
        F.log_softmax(teacher.float() / temperature, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    return alpha * temperature**2 * soft + (1.0 - alpha) * hard_loss


def similarity_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Similarity-preserving loss: ||G_s - G_t||_F^2 / b^2, G the row-normalised b x b Gram matrix."""

    def gram(f: torch.Tensor) -> torch.Tensor:
        f = f.float().flatten(1)
        return F.normalize(f @ f.t(), dim=1)

    b = student.shape[0]
    return (gram(student) - gram(teacher)).pow(2).sum() / (b * b)


def classifier_of(model: nn.Module) -> nn.Linear:
    """The network's final classifier: its last ``nn.Linear`` outside auxiliary heads."""
    found = [
        m
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear)
        and not any(part.startswith("auxiliary") for part in name.split("."))
    ]
    if not found:
        raise NasError(
            f"training.distill.features needs a final nn.Linear classifier; "
            f"{type(model).__name__} has none (set features: 0)"
        )
    return found[-1]


class _FeatureTap:
    """Keeps the input of a module from the latest forward pass."""

    def __init__(self, module: nn.Module) -> None:
        self.value: torch.Tensor | None = None
        self.handle = module.register_forward_pre_hook(self._keep)

    def _keep(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        self.value = args[0]


class Distiller:
    """Computes the distillation loss of one student against a frozen teacher, batch by batch."""

    def __init__(self, student: nn.Module, teacher: nn.Module, cfg: DistillConfig) -> None:
        self.teacher = teacher.eval().requires_grad_(False)
        self.cfg = cfg
        self._taps = (
            (_FeatureTap(classifier_of(student)), _FeatureTap(classifier_of(teacher)))
            if cfg.features
            else None
        )

    def loss(self, logits: torch.Tensor, x: torch.Tensor, hard_loss: torch.Tensor) -> torch.Tensor:
        """The student's loss for batch ``x`` given its logits and its loss on the hard labels."""
        with torch.no_grad():
            teacher_logits = self.teacher(x)
        loss = hinton_loss(
            logits,
            teacher_logits,
            hard_loss,
            temperature=self.cfg.temperature,
            alpha=self.cfg.alpha,
        )
        if self._taps is not None:
            student, teacher = self._taps
            assert (
                student.value is not None and teacher.value is not None
            )  # both forward passes ran
            loss = loss + self.cfg.features * similarity_loss(student.value, teacher.value)
        return loss

    def close(self) -> None:
        """Remove the feature hooks from both networks."""
        for tap in self._taps or ():
            tap.handle.remove()


def load_teacher(cfg: DistillConfig, space: SearchSpace | None, device: torch.device) -> nn.Module:
    """The teacher network: an exported module (``.py`` or its folder) built with its weights, or
    architecture ``cfg.teacher_arch`` of ``space`` with the weights a search kept
    (``RUN/weights/<arch_id>.pt``, read with ``torch.load(..., weights_only=True)``)."""
    path = Path(cfg.teacher)
    if not path.exists():
        raise NasError(
            f"training.distill.teacher {cfg.teacher!r} does not exist; give an exported module "
            "(.py, from nas export or nas train) or a weights file (.pt) with teacher_arch"
        )
    if path.suffix == ".py" or path.is_dir():
        from nas.deploy.export import rebuild_exported

        # rebuilt from the module's recorded architecture, never run: a config must not execute code
        return rebuild_exported(path).to(device).eval()
    if cfg.teacher_arch is None or space is None:
        raise NasError(
            f"training.distill.teacher {cfg.teacher!r} holds weights only; set "
            "training.distill.teacher_arch to its architecture in the experiment's space (or give the "
            "exported .py module)"
        )
    return _from_weights(path, cfg.teacher_arch, space).to(device).eval()


def _from_weights(path: Path, arch_text: str, space: SearchSpace) -> nn.Module:
    from nas.results.weights import load_state_checked, load_weights

    saved = load_weights(path)  # weights_only=True; checks it is a nas weights file
    model = space.build(
        space.parse(arch_text), num_classes=saved.num_classes, input_shape=saved.input_shape
    )
    load_state_checked(
        model, saved.state_dict, f"the teacher weights {str(path)!r} (teacher_arch {arch_text!r})"
    )
    return model


def distiller_for(
    student: nn.Module, teacher: nn.Module | None, cfg: DistillConfig | None
) -> Distiller | None:
    """A Distiller when distillation is configured; NasError when it is but no teacher was loaded."""
    if cfg is None:
        return None
    if teacher is None:
        raise NasError(
            "training.distill is set but no teacher was loaded for this training; "
            "this command does not support distillation yet"
        )
    return Distiller(student, teacher, cfg)
