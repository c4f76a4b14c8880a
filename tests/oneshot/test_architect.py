"""The DARTS architecture step: the second-order hypergradient against finite differences."""

from __future__ import annotations

import torch

from nas.oneshot.architect import Architect
from nas.oneshot.darts import beta_regularizer
from nas.training.loop import seeded
from search_spaces.nb201 import NB201Space

LR = 0.2


def tiny_problem() -> tuple[Architect, tuple, tuple]:
    """A double-precision NB201 mixed supernet at a random point, with a momentum buffer."""
    generator = torch.Generator().manual_seed(0)
    with seeded(0):
        model = (
            NB201Space(channels=2, cells_per_stage=1)
            .mixed_supernet(num_classes=3, input_shape=(1, 4, 4), generator=generator)
            .double()
        )
    with torch.no_grad():
        for alpha in model.arch_parameters():
            alpha.copy_(torch.randn(alpha.shape, generator=generator, dtype=torch.float64))

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.randn(6, 1, 4, 4, generator=generator, dtype=torch.float64),
            torch.randint(0, 3, (6,), generator=generator),
        )

    w_opt = torch.optim.SGD(model.weight_parameters(), lr=LR, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(model.arch_parameters(), lr=3e-4)
    architect = Architect(model, w_opt, a_opt, order=2, hvp_epsilon=0.01)
    model.train()
    architect.loss(batch()).backward()  # one real weight step, so that the momentum term counts
    w_opt.step()
    w_opt.zero_grad(set_to_none=True)
    return architect, batch(), batch()


def unrolled_val_loss(architect: Architect, train: tuple, val: tuple) -> float:
    """L_val(w - lr * (momentum * buffer + grad_w L_train(w, a) + wd * w), a), computed directly."""
    weights = architect.model.weight_parameters()
    saved = [w.detach().clone() for w in weights]
    grads = torch.autograd.grad(architect.loss(train), weights)
    with torch.no_grad():
        for w, g in zip(weights, grads, strict=False):
            buffer = architect.weight_optimizer.state[w]["momentum_buffer"]
            w.sub_(LR * (0.9 * buffer + g + 3e-4 * w))
        value = architect.loss(val).item()
        for w, s in zip(weights, saved, strict=False):
            w.copy_(s)
    return value


def finite_difference_gradient(
    architect: Architect, train: tuple, val: tuple, h: float = 1e-5
) -> list[torch.Tensor]:
    out = []
    for alpha in architect.model.arch_parameters():
        grad = torch.zeros_like(alpha)
        start = alpha.detach().clone()
        for i in range(alpha.numel()):
            values = []
            for shift in (h, -h):
                with torch.no_grad():
                    alpha.copy_(start)
                    alpha.view(-1)[i] += shift
                values.append(unrolled_val_loss(architect, train, val))
            grad.view(-1)[i] = (values[0] - values[1]) / (2 * h)
        with torch.no_grad():
            alpha.copy_(start)
        out.append(grad)
    return out


def flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def test_second_order_hypergradient_matches_finite_differences_of_the_unrolled_loss() -> None:
    architect, train, val = tiny_problem()
    reference = flat(finite_difference_gradient(architect, train, val))
    errors = {}
    for epsilon in (0.01, 1e-4):  # the paper's, and a finer one
        architect.hvp_epsilon = epsilon
        before = [w.detach().clone() for w in architect.model.weight_parameters()]
        hyper, _ = architect.hypergradient(train, val, LR)
        for w, b in zip(architect.model.weight_parameters(), before, strict=False):
            assert torch.equal(w, b), "the virtual step must leave the weights as they were"
        errors[epsilon] = ((flat(hyper) - reference).norm() / reference.norm()).item()
    assert errors[1e-4] < 1e-5, errors
    assert errors[0.01] < 1e-2, errors
    # the only approximation left is the central difference of eq. 8: its error falls as epsilon^2
    assert errors[0.01] > 1e3 * errors[1e-4], errors
    # the implicit (Hessian) term matters here, so dropping it or flipping its sign would fail
    first_order = flat(
        list(torch.autograd.grad(architect.loss(val), architect.model.arch_parameters()))
    )
    assert (first_order - reference).norm() / reference.norm() > 0.5


def test_regularised_step_adds_the_regulariser_gradient() -> None:
    architect, train, val = tiny_problem()
    architect.order = 1
    alpha = architect.model.arch_parameters()[0]
    start = alpha.detach().clone()
    plain = torch.autograd.grad(architect.loss(val), [alpha])[0]
    reg = torch.autograd.grad(5.0 * beta_regularizer([alpha]), [alpha])[0]
    architect.arch_optimizer = torch.optim.SGD([alpha], lr=1.0)
    architect.step(train, val, LR, lambda alphas: 5.0 * beta_regularizer(alphas))
    torch.testing.assert_close(start - alpha.detach(), plain + reg)
