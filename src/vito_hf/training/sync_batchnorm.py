"""Batch norm synchronised across processes, on any device and any backend (gloo on CPU, NCCL on GPU).

`torch.nn.SyncBatchNorm` only runs on accelerators, so VITO's CPU multi-process runs (and the tests that
prove 2 processes x B equal 1 process x 2B) need their own. Each training-mode forward sums, per channel,
the values, their squares and the element count over the local batch, adds those sums over all processes
with a differentiable all-reduce (`torch.distributed.nn.functional.all_reduce`, whose backward all-reduces
the gradients), and normalises with the global statistics. Gradients therefore flow through the global
mean and variance exactly as if one process had held the whole batch.

The converted modules keep their class family (`AllReduceBatchNorm2d` is an `nn.BatchNorm2d`) and their
parameters and buffers, so state-dict keys are unchanged and checkpoints load into the plain model. With
one process, in eval mode, or without running statistics of their own, they behave exactly as `nn.BatchNorm`.
"""

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn


def distributed_world_size() -> int:
    """Number of processes of the default group, 1 when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


class _AllReduceBatchNormMixin:
    """Training-mode forward with statistics over every process's batch."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or distributed_world_size() == 1:
            return super().forward(input)
        self._check_input_dim(input)
        channels = input.shape[1]
        reduce_dims = [0, *range(2, input.dim())]
        # Statistics in float32 whatever the activation dtype (bf16 autocast): sums of squares lose too much
        # in bf16. For float32 inputs no copy is made (autograd keeps a reference to `input`).
        values = input if input.dtype in (torch.float32, torch.float64) else input.float()
        local = torch.cat(
            [
                values.sum(reduce_dims),
                values.square().sum(reduce_dims),
                values.new_full((1,), input.numel() // channels),
            ]
        )
        total = dist_fn.all_reduce(local)
        count = total[-1]
        mean = total[:channels] / count
        variance = (total[channels : 2 * channels] / count - mean.square()).clamp_min(0.0)
        scale = torch.rsqrt(variance + self.eps)
        if self.weight is not None:
            scale = scale * self.weight
        shift = -mean * scale
        if self.bias is not None:
            shift = shift + self.bias
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), variance.detach(), count.detach())
        shape = [1, channels] + [1] * (input.dim() - 2)
        return torch.addcmul(shift.view(shape), values, scale.view(shape)).to(input.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, variance: torch.Tensor, count: torch.Tensor) -> None:
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = variance * count / (count - 1).clamp_min(1.0)
        self.running_mean.mul_(1.0 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
        self.running_var.mul_(1.0 - factor).add_(unbiased.to(self.running_var.dtype), alpha=factor)


class AllReduceBatchNorm1d(_AllReduceBatchNormMixin, nn.BatchNorm1d):
    """`nn.BatchNorm1d` with statistics over all processes in training mode."""


class AllReduceBatchNorm2d(_AllReduceBatchNormMixin, nn.BatchNorm2d):
    """`nn.BatchNorm2d` with statistics over all processes in training mode."""


class AllReduceBatchNorm3d(_AllReduceBatchNormMixin, nn.BatchNorm3d):
    """`nn.BatchNorm3d` with statistics over all processes in training mode."""


_SYNCED = {
    nn.BatchNorm1d: AllReduceBatchNorm1d,
    nn.BatchNorm2d: AllReduceBatchNorm2d,
    nn.BatchNorm3d: AllReduceBatchNorm3d,
}


def _synced_copy(module: nn.modules.batchnorm._BatchNorm) -> nn.Module:
    synced_class = _SYNCED[type(module)]
    synced = synced_class.__new__(synced_class)
    # Same attributes, the very same parameter and buffer objects (so an optimizer or EMA holding them keeps
    # working), the same registration order (so `parameters()` and `state_dict()` are unchanged).
    synced.__dict__.update(module.__dict__)
    synced._parameters = dict(module._parameters)
    synced._buffers = dict(module._buffers)
    synced._modules = dict(module._modules)
    return synced


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every plain `nn.BatchNorm1d/2d/3d` in `module` (in place) by its all-reduce twin.

    Returns the module (a new object only if `module` itself is a batch norm). Subclasses of the batch-norm
    classes (custom norms) are left alone.
    """
    if type(module) in _SYNCED:
        return _synced_copy(module)
    for name, child in module.named_children():
        converted = convert_sync_batchnorm(child)
        if converted is not child:
            setattr(module, name, converted)
    return module
