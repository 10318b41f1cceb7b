"""Adam over one flat parameter vector, with global gradient-norm clipping.

Speed: a PPO minibatch step on one CPU core is a few hundred small ops, so per-op and per-parameter
overhead is what costs. Here every parameter of the module is a view into one flat tensor, and every
gradient a view into one flat gradient (autograd accumulates into an existing .grad in place), so:
- zero_grad is one fill of the flat gradient,
- the global gradient norm is one norm, its clipping one multiply (torch's clip_grad_norm_ does a norm
  per parameter, a stack and a foreach multiply),
- the update is one call of torch's fused Adam kernel (torch._fused_adam_), the same kernel and the same
  numbers as torch.optim.Adam(fused=True), without the per-step Python bookkeeping of that class and of
  its functional wrapper (torch is pinned, so this private op's signature is too).
The measured savings, with date and machine, are in docs/speed.md.
"""

from __future__ import annotations

import torch
from torch import nn


def flatten_parameters(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Move every parameter of `module` into one flat tensor (values unchanged) and give each a .grad
    that is a view into one flat gradient. Returns (flat values, flat gradient)."""
    params = list(module.parameters())
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    flat_grad = torch.zeros_like(flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.data = flat[offset : offset + n].view_as(p)
        p.grad = flat_grad[offset : offset + n].view_as(p)
        offset += n
    return flat, flat_grad


def clip_coefficient(norm: torch.Tensor, max_norm: float) -> torch.Tensor:
    """min(1, max_norm / (||g|| + 1e-6)): what global gradient-norm clipping scales the gradient by, as
    torch.nn.utils.clip_grad_norm_ does."""
    return torch.clamp(max_norm / (norm + 1e-6), max=1.0)


def adam_update_(
    params: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step_size: torch.Tensor,
    inverse_bias_correction2_sqrt: torch.Tensor,
    betas: tuple[float, float],
    eps: float,
) -> None:
    """Adam's update in plain tensor ops, torch's fused kernel's formula up to float rounding, for a compiled graph
    (to which the fused kernel is opaque): m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
    theta <- theta - lr / (1 - b1^t) * m / (sqrt(v) * (1 / sqrt(1 - b2^t)) + eps). step_size and
    inverse_bias_correction2_sqrt come from FlatAdam.next_step_scalars.

    Speed: the bias correction multiplies by its inverse where the fused kernel divides. A vector division costs
    as much as a square root (the CPU's divider does both, ~10 cycles per 16 floats), so this leaves one division
    and one square root per parameter instead of two and one: HalfCheetah's 142k-parameter step 202 -> 173 us
    (docs/speed.md). The result differs from the fused kernel's by float rounding only."""
    exp_avg.lerp_(grad, 1.0 - betas[0])
    exp_avg_sq.mul_(betas[1]).addcmul_(grad, grad, value=1.0 - betas[1])
    params.sub_(step_size * exp_avg / (exp_avg_sq.sqrt() * inverse_bias_correction2_sqrt + eps))


class FlatAdam:
    """Adam (Kingma & Ba 2015) with bias correction over a module's flattened parameters as one vector.

    `lr` may be changed between steps (learning-rate annealing). Gradients must be accumulated into the
    existing .grad tensors: call zero_grad() (never set .grad to None) before each backward pass.
    """

    def __init__(
        self, params: torch.Tensor, grad: torch.Tensor, lr: float, eps: float = 1e-8, betas: tuple[float, float] = (0.9, 0.999)
    ):
        self.params, self.grad = params, grad  # from flatten_parameters
        self.lr, self.eps, self.betas = lr, eps, betas
        self.exp_avg = torch.zeros_like(self.params)  # m_t, first moment
        self.exp_avg_sq = torch.zeros_like(self.params)  # v_t, second moment
        # t, the steps taken: a Python int (the compiled update reads and counts it every minibatch: a tensor cost two
        # torch ops a step), and a copy as a tensor on the parameters' device, as the fused kernel wants it
        self.step_count = 0
        self._step_tensor = torch.zeros((), device=params.device)

    def state_dict(self) -> dict:
        return {
            "lr": self.lr,
            "exp_avg": self.exp_avg.clone(),
            "exp_avg_sq": self.exp_avg_sq.clone(),
            "step": torch.tensor(float(self.step_count)),
        }

    def load_state_dict(self, state: dict) -> None:
        self.lr = state["lr"]
        self.exp_avg.copy_(state["exp_avg"])
        self.exp_avg_sq.copy_(state["exp_avg_sq"])
        self.step_count = int(state["step"])

    def zero_grad(self) -> None:
        self.grad.zero_()

    def clip_grad_norm_(self, max_norm: float | None) -> torch.Tensor:
        """Scale the gradient to global norm <= max_norm, as torch.nn.utils.clip_grad_norm_ does:
        g <- g * min(1, max_norm / (||g|| + 1e-6)). Returns ||g|| before clipping; None = measure only."""
        norm = torch.linalg.vector_norm(self.grad)
        if max_norm is not None:
            self.grad.mul_(clip_coefficient(norm, max_norm))
        return norm

    def next_step_scalars(self) -> tuple[float, float]:
        """Adam's two scalars for the coming step t + 1, the bias corrections folded in (Kingma & Ba, section 2):
        the step size lr / (1 - beta1^t) and 1 / sqrt(1 - beta2^t). For the compiled update (compiled.py), which
        applies the step in its own graph (adam_update_) and then counts it (count_step)."""
        t = self.step_count + 1.0
        return self.lr / (1.0 - self.betas[0] ** t), (1.0 - self.betas[1] ** t) ** -0.5

    def count_step(self) -> None:
        self.step_count += 1

    @torch.no_grad()
    def step(self) -> None:
        # What torch.optim.adam.adam(..., fused=True) does for one CPU tensor, without its per-call grouping
        # of tensors by device and dtype: count the step, then one call of the fused kernel.
        self.step_count += 1
        self._step_tensor.fill_(self.step_count)
        torch._fused_adam_(
            [self.params],
            [self.grad],
            [self.exp_avg],
            [self.exp_avg_sq],
            [],
            [self._step_tensor],
            amsgrad=False,
            lr=self.lr,
            beta1=self.betas[0],
            beta2=self.betas[1],
            weight_decay=0.0,
            eps=self.eps,
            maximize=False,
        )
