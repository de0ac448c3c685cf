"""Validation shared by the probes: features become 2-D float tensors on the CPU, labels 1-D int64 class indices."""

from __future__ import annotations

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray


def as_features(features: ArrayLike) -> torch.Tensor:
    """A 2-D floating tensor ``[items, dimensions]`` on the CPU (half precisions widen to float32)."""
    tensor = features if isinstance(features, torch.Tensor) else torch.as_tensor(np.asarray(features))
    if tensor.ndim != 2:
        raise ValueError(f"features must be a 2-D array [items, dimensions], got shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point() or tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.float()
    # Tensors made under torch.inference_mode cannot enter autograd (the linear probe); a plain copy can.
    return tensor.detach().cpu().clone() if tensor.is_inference() else tensor.detach().cpu()


def as_labels(labels: ArrayLike) -> torch.Tensor:
    """A 1-D int64 tensor of non-negative class indices on the CPU."""
    tensor = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels))
    if tensor.ndim != 1 or tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise ValueError(
            f"labels must be a 1-D integer array, got dtype {tensor.dtype} and shape {tuple(tensor.shape)}"
        )
    if len(tensor) and tensor.min() < 0:
        raise ValueError("labels must be non-negative class indices")
    return tensor.detach().cpu().long().clone() if tensor.is_inference() else tensor.detach().cpu().long()


def check_pair(features: torch.Tensor, labels: torch.Tensor, split: str) -> None:
    """Features and labels of one split must be non-empty and equally long."""
    if len(features) != len(labels):
        raise ValueError(f"{len(features)} {split} features but {len(labels)} {split} labels")
    if len(features) == 0:
        raise ValueError(f"the {split} set is empty")


def resolve_num_classes(labels: torch.Tensor, num_classes: int | None) -> int:
    """``num_classes`` if given (checked against the labels), else one more than the largest label."""
    needed = int(labels.max()) + 1
    if num_classes is None:
        return needed
    if num_classes < needed:
        raise ValueError(f"num_classes={num_classes} but the labels go up to {needed - 1}")
    return num_classes
