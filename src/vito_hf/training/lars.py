"""LARS, the optimizer of the VITO paper (as in BYOL/SimCLR), and the AdamW used for small runs.

LARS scales each weight matrix's update by a trust ratio `eta * ||w|| / ||g + wd * w||`, so every layer
moves by a similar relative amount whatever the batch size. Biases and normalisation parameters (tensors
with at most one dimension) get neither weight decay nor the trust ratio: plain momentum SGD.
"""

from collections.abc import Iterable

import torch
from torch import nn


def is_matrix_parameter(parameter: torch.Tensor) -> bool:
    """Weights of convolutions and linear layers; biases and norm scales/offsets (ndim <= 1) are not."""
    return parameter.ndim > 1


class LARS(torch.optim.Optimizer):
    """Layer-wise adaptive rate scaling with heavy-ball momentum.

    For a weight matrix `w` with gradient `g`: `u = g + wd * w`, `u *= eta * ||w|| / ||u||` (1 when either
    norm is 0), `buf = momentum * buf + u`, `w -= lr * buf`. Vectors (biases, norm parameters) skip the
    decay and the trust ratio. The per-tensor work runs as `torch._foreach_*` kernels.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 1e-3,
    ):
        if lr < 0:
            raise ValueError(f"LARS learning rate must be >= 0, got {lr}.")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"LARS momentum must lie in [0, 1), got {momentum}.")
        if weight_decay < 0:
            raise ValueError(f"LARS weight decay must be >= 0, got {weight_decay}.")
        if trust_coefficient <= 0:
            raise ValueError(f"LARS trust coefficient must be > 0, got {trust_coefficient}.")
        defaults = {
            "lr": lr, "momentum": momentum, "weight_decay": weight_decay, "trust_coefficient": trust_coefficient
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if "momentum_buffer" not in self.state[p]:
                    self.state[p]["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            matrices = [p for p in params if is_matrix_parameter(p)]
            vectors = [p for p in params if not is_matrix_parameter(p)]
            if matrices:
                self._adapted_updates(matrices, group)
            if vectors:
                self._momentum_step(vectors, [p.grad for p in vectors], group)
        return loss

    def _adapted_updates(self, params: list[torch.Tensor], group: dict) -> None:
        grads = [p.grad for p in params]
        if group["weight_decay"]:
            updates = torch._foreach_add(grads, params, alpha=group["weight_decay"])
        else:
            updates = [g.clone() for g in grads]
        param_norms = torch.stack(torch._foreach_norm(params))
        update_norms = torch.stack(torch._foreach_norm(updates))
        trust = torch.where(
            (param_norms > 0) & (update_norms > 0),
            group["trust_coefficient"] * param_norms / update_norms,
            torch.ones_like(param_norms),
        )
        torch._foreach_mul_(updates, list(trust.unbind(0)))
        self._momentum_step(params, updates, group)

    def _momentum_step(self, params: list[torch.Tensor], updates: list[torch.Tensor], group: dict) -> None:
        buffers = [self.state[p]["momentum_buffer"] for p in params]
        torch._foreach_mul_(buffers, group["momentum"])
        torch._foreach_add_(buffers, updates)
        torch._foreach_add_(params, buffers, alpha=-group["lr"])


def decay_parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters in two groups: matrices with `weight_decay`, vectors (biases, norms) without.

    The frozen EMA target (`requires_grad=False`) is left out, so no optimizer state is kept for it.
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in trainable if is_matrix_parameter(p)], "weight_decay": weight_decay},
        {"params": [p for p in trainable if not is_matrix_parameter(p)], "weight_decay": 0.0},
    ]


def build_optimizer(
    model: nn.Module,
    name: str,
    lr: float,
    weight_decay: float,
    momentum: float = 0.9,
    trust_coefficient: float = 1e-3,
    adam_betas: tuple[float, float] = (0.9, 0.999),
    adam_epsilon: float = 1e-8,
) -> torch.optim.Optimizer:
    """`"lars"` (the paper's choice for large batches) or `"adamw"` (fused when the device supports it;
    steadier for small CPU runs)."""
    groups = decay_parameter_groups(model, weight_decay)
    if name == "lars":
        return LARS(groups, lr=lr, momentum=momentum, trust_coefficient=trust_coefficient)
    if name == "adamw":
        device = next(p.device for group in groups for p in group["params"])
        fused = device.type in ("cuda", "cpu", "xpu", "mps")
        return torch.optim.AdamW(groups, lr=lr, betas=adam_betas, eps=adam_epsilon, fused=fused)
    raise ValueError(f"Unknown optimizer {name!r}: choose 'lars' or 'adamw'.")
