"""The linear probe: multinomial logistic regression on standardised frozen features, fitted by full-batch L-BFGS.

Full-batch L-BFGS from zero weights has no learning-rate schedule to tune and no sampling, so the same features
always give the same classifier; only the validation split used to pick the weight decay depends on a seed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .feature_arrays import ArrayLike, as_features, as_labels, check_pair, resolve_num_classes

DEFAULT_WEIGHT_DECAYS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
SINGLE_THREAD_BELOW = 4_000_000
"""Feature-matrix sizes (items x dimensions) below which L-BFGS runs on one thread: its hundreds of tiny steps
then cost less than synchronising threads (30x less, measured on a loaded 2-core machine)."""


@dataclass(frozen=True)
class LinearProbeResult:
    """Test accuracy of the linear probe, the weight decay it used and its accuracy on the training set."""

    accuracy: float
    weight_decay: float
    train_accuracy: float


class LinearProbe(torch.nn.Module):
    """Standardisation (train mean/std) followed by a linear layer; ``forward`` returns class logits."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.linear = torch.nn.Linear(len(mean), num_classes)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear((features - self.mean) / self.std)

    @torch.no_grad()
    def predict(self, features: ArrayLike) -> np.ndarray:
        """Class indices of ``features`` (a tensor or an array)."""
        return self(as_features(features).to(self.mean.dtype)).argmax(dim=1).numpy()


def fit_linear_probe(
    features: ArrayLike,
    labels: ArrayLike,
    *,
    weight_decay: float = 1e-4,
    num_classes: int | None = None,
    max_iter: int = 100,
) -> LinearProbe:
    """Fit multinomial logistic regression by full-batch L-BFGS on mean cross-entropy + ``weight_decay/2 * |W|^2``.

    Starting from zero weights, with no sampling anywhere, the fit is a deterministic function of its inputs.
    """
    x, y = as_features(features), as_labels(labels)
    check_pair(x, y, "training")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be non-negative, got {weight_decay}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    num_classes = resolve_num_classes(y, num_classes)
    # Autograd is needed here even when a caller runs under torch.inference_mode or torch.no_grad.
    with torch.inference_mode(False), torch.enable_grad(), _threads_for(x.numel()):
        # A copy made here, outside inference mode, is an ordinary tensor even when the input was made inside it
        # (cross-entropy saves its target for backward, which an inference tensor forbids).
        x, y = (t.clone() if t.is_inference() else t for t in (x, y))
        mean = x.mean(dim=0)
        std = x.std(dim=0, unbiased=False)
        # A constant feature (a blank border pixel) carries nothing: divide by 1 so it stays 0 and its weight too.
        std = torch.where(std > 0, std, torch.ones_like(std))
        probe = LinearProbe(mean, std, num_classes).to(x.dtype)
        standardised = (x - mean) / std
        optimizer = torch.optim.LBFGS(
            probe.linear.parameters(), lr=1.0, max_iter=max_iter, history_size=20,
            tolerance_grad=1e-6, tolerance_change=1e-9, line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(probe.linear(standardised), y)
            loss = loss + 0.5 * weight_decay * probe.linear.weight.square().sum()
            loss.backward()
            return loss

        optimizer.step(closure)
    return probe.eval().requires_grad_(False)


def linear_probe(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    test_features: ArrayLike,
    test_labels: ArrayLike,
    *,
    weight_decay: float | Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    validation_fraction: float = 0.2,
    seed: int = 0,
    num_classes: int | None = None,
    max_iter: int = 100,
) -> LinearProbeResult:
    """Accuracy of a logistic-regression probe on frozen features.

    Given several ``weight_decay`` values, the best one on a stratified ``validation_fraction`` of the training set
    (drawn with ``seed``) is chosen, then the probe is refitted on the whole training set with it.
    """
    train_x, train_y = as_features(train_features), as_labels(train_labels)
    test_x, test_y = as_features(test_features).to(train_x.dtype), as_labels(test_labels)
    check_pair(train_x, train_y, "train")
    check_pair(test_x, test_y, "test")
    num_classes = resolve_num_classes(train_y, num_classes)
    candidates = [float(weight_decay)] if isinstance(weight_decay, (int, float)) else [float(w) for w in weight_decay]
    if not candidates:
        raise ValueError("weight_decay must be a number or a non-empty sequence of numbers")
    chosen = candidates[0]
    if len(candidates) > 1:
        fit_index, val_index = _stratified_holdout(train_y, validation_fraction, seed)
        best = -1.0
        for candidate in candidates:
            probe = fit_linear_probe(
                train_x[fit_index], train_y[fit_index],
                weight_decay=candidate, num_classes=num_classes, max_iter=max_iter,
            )
            accuracy = _accuracy(probe, train_x[val_index], train_y[val_index])
            if accuracy > best:
                best, chosen = accuracy, candidate
    probe = fit_linear_probe(train_x, train_y, weight_decay=chosen, num_classes=num_classes, max_iter=max_iter)
    return LinearProbeResult(
        accuracy=_accuracy(probe, test_x, test_y),
        weight_decay=chosen,
        train_accuracy=_accuracy(probe, train_x, train_y),
    )


@contextmanager
def _threads_for(size: int) -> Iterator[None]:
    """One intra-op thread for small problems (see :data:`SINGLE_THREAD_BELOW`), restored afterwards."""
    threads = torch.get_num_threads()
    if size >= SINGLE_THREAD_BELOW or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _accuracy(probe: LinearProbe, features: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.inference_mode():
        return (probe(features).argmax(dim=1) == labels).double().mean().item()


def _stratified_holdout(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_fraction must lie strictly between 0 and 1, got {fraction}")
    generator = torch.Generator().manual_seed(seed)
    held_out = []
    for cls in labels.unique():
        members = torch.nonzero(labels == cls).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        held_out.append(members[: int(round(fraction * len(members)))])
    val_mask = torch.zeros(len(labels), dtype=torch.bool)
    val_mask[torch.cat(held_out)] = True
    if val_mask.all() or not val_mask.any():
        raise ValueError("too few training items to hold out a validation set; pass a single weight_decay")
    return torch.nonzero(~val_mask).flatten(), torch.nonzero(val_mask).flatten()
