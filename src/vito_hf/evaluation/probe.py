"""Frozen-feature probes (kNN, linear) of an encoder on labelled image sets, and the baselines that give them meaning.

A probe accuracy alone says little: a randomly initialised convolutional network already separates digits well.
:func:`compare_to_random_init` therefore evaluates the encoder, the same architecture at random initialisation
(same config, fixed seed) and the raw pixels side by side, on the same split with the same probes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .checkpoints import random_init_like
from .feature_cache import cached_features, model_content_hash
from .image_datasets import ImageDataset, ImageDatasetError, load_image_dataset
from .knn import knn_accuracy
from .linear_probe import DEFAULT_WEIGHT_DECAYS, linear_probe

logger = logging.getLogger(__name__)


def evaluate_frozen_features(
    model: torch.nn.Module,
    dataset: str | ImageDataset = "digits",
    *,
    limit: int | None = None,
    seed: int = 0,
    k: int = 20,
    temperature: float = 0.07,
    weight_decay: float | Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    linear: bool = True,
    batch_size: int = 256,
    image_size: int | None = None,
    image_processor: Any | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """kNN and linear-probe top-1 accuracy of ``model``'s frozen pooled features on ``dataset``'s test split.

    ``dataset`` is anything :func:`load_image_dataset` loads (loaded with ``limit`` per split and ``seed``) or an
    already loaded :class:`ImageDataset`. Features are cached under ``cache_dir`` (see :mod:`.feature_cache`).
    ``linear=False`` skips the linear probe (its keys are then ``None``).
    """
    data = _resolve_dataset(dataset, limit, seed)
    model_hash = model_content_hash(model)
    features = {}
    for split in ("train", "test"):
        features[split], _ = cached_features(
            model, getattr(data, split), image_column=data.image_column, image_processor=image_processor,
            image_size=image_size, batch_size=batch_size, cache_dir=cache_dir, model_hash=model_hash,
            progress=f"features {data.name}/{split}" if progress else None,
        )
    return _probe(features["train"], features["test"], data, k=k, temperature=temperature,
                  weight_decay=weight_decay, linear=linear, seed=seed)


def evaluate_raw_pixels(
    dataset: str | ImageDataset = "digits",
    *,
    limit: int | None = None,
    seed: int = 0,
    k: int = 20,
    temperature: float = 0.07,
    weight_decay: float | Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    linear: bool = True,
) -> dict[str, Any]:
    """The same probes on the flattened pixels (scaled to 0..1): the baseline no learned feature should lose to.

    Needs images of one size (as in the toy sets); raises :class:`ImageDatasetError` otherwise.
    """
    data = _resolve_dataset(dataset, limit, seed)
    train, test = (_flat_pixels(data, split) for split in ("train", "test"))
    return _probe(train, test, data, k=k, temperature=temperature, weight_decay=weight_decay, linear=linear, seed=seed)


def compare_to_random_init(
    model: torch.nn.Module,
    dataset: str | ImageDataset = "digits",
    *,
    limit: int | None = None,
    seed: int = 0,
    include_raw_pixels: bool = True,
    **probe_kwargs: Any,
) -> dict[str, Any]:
    """Evaluate ``model``, the same architecture at random initialisation and (optionally) raw pixels, side by side.

    Returns ``{"dataset": ..., "model": {...}, "random_init": {...}, "raw_pixels": {...}}`` where each inner dict is
    what :func:`evaluate_frozen_features` returns; ``probe_kwargs`` are passed on to it. :func:`format_comparison`
    turns the result into a text table. Raw pixels are left out for images of differing sizes.
    """
    data = _resolve_dataset(dataset, limit, seed)
    results: dict[str, Any] = {"dataset": data.name}
    results["model"] = evaluate_frozen_features(model, data, seed=seed, **probe_kwargs)
    results["random_init"] = evaluate_frozen_features(random_init_like(model, seed), data, seed=seed, **probe_kwargs)
    if include_raw_pixels:
        shared = ("k", "temperature", "weight_decay", "linear")
        pixel_kwargs = {key: probe_kwargs[key] for key in shared if key in probe_kwargs}
        try:
            results["raw_pixels"] = evaluate_raw_pixels(data, seed=seed, **pixel_kwargs)
        except ImageDatasetError as error:
            logger.warning("No raw-pixel baseline on %s: %s", data.name, error)
    return results


def format_comparison(results: dict[str, Any]) -> str:
    """A small text table of :func:`compare_to_random_init`'s result."""
    rows = [(label, results[key]) for key, label in
            (("model", "model"), ("random_init", "random init"), ("raw_pixels", "raw pixels")) if key in results]
    first = rows[0][1]
    lines = [
        f"Frozen-feature probes on {results['dataset']} ({first['num_train']} train / {first['num_test']} test images, "
        f"{first['num_classes']} classes; kNN k={first['knn_k']}, T={first['knn_temperature']})",
        f"{'':<12}{'kNN top-1':>11}{'linear top-1':>14}{'feature dim':>13}",
    ]
    for label, row in rows:
        linear = "-" if row["linear_top1"] is None else f"{row['linear_top1']:.4f}"
        lines.append(f"{label:<12}{row['knn_top1']:>11.4f}{linear:>14}{row['feature_dim']:>13}")
    return "\n".join(lines)


def _resolve_dataset(dataset: str | ImageDataset, limit: int | None, seed: int) -> ImageDataset:
    if isinstance(dataset, ImageDataset):
        return dataset
    return load_image_dataset(dataset, limit=limit, seed=seed)


def _flat_pixels(data: ImageDataset, split: str) -> torch.Tensor:
    images = data.arrays(split).images
    return torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)


def _probe(
    train: torch.Tensor,
    test: torch.Tensor,
    data: ImageDataset,
    *,
    k: int,
    temperature: float,
    weight_decay: float | Sequence[float],
    linear: bool,
    seed: int,
) -> dict[str, Any]:
    num_classes = data.num_classes
    train_labels, test_labels = data.labels("train"), data.labels("test")
    k = min(k, len(train))
    result: dict[str, Any] = {
        "dataset": data.name,
        "num_train": len(data.train),
        "num_test": len(data.test),
        "num_classes": num_classes,
        "feature_dim": int(train.shape[1]),
        "knn_top1": knn_accuracy(
            train, train_labels, test, test_labels, k=k, temperature=temperature, num_classes=num_classes
        ),
        "knn_k": k,
        "knn_temperature": temperature,
        "linear_top1": None,
        "linear_train_top1": None,
        "linear_weight_decay": None,
    }
    if linear:
        fit = linear_probe(
            train, train_labels, test, test_labels, weight_decay=weight_decay, seed=seed, num_classes=num_classes,
        )
        result.update(
            linear_top1=fit.accuracy, linear_train_top1=fit.train_accuracy, linear_weight_decay=fit.weight_decay
        )
    return result
