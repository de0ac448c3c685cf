"""Frozen-feature evaluation of an encoder on a real labelled image set, and the baselines that give it meaning.

A probe accuracy alone says little: a randomly initialised convolutional network already separates digits well.
:func:`compare_to_random_init` therefore evaluates the encoder, the same architecture at random initialisation
(same config, fixed seed) and the raw pixels side by side, on the same split with the same probes.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .features import extract_features
from .knn import knn_accuracy
from .labelled_images import LabelledImageSet, load_labelled_images
from .linear_probe import DEFAULT_WEIGHT_DECAYS, linear_probe


def evaluate_frozen_features(
    model: torch.nn.Module,
    dataset: str | LabelledImageSet = "digits",
    *,
    limit: int | None = None,
    seed: int = 0,
    k: int = 20,
    temperature: float = 0.07,
    weight_decay: float | Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    linear: bool = True,
    batch_size: int = 256,
    image_size: int | None = None,
    image_processor: object | None = None,
) -> dict[str, Any]:
    """kNN and linear-probe top-1 accuracy of ``model``'s frozen ``pooler_output`` features.

    ``dataset`` is a name from ``AVAILABLE_DATASETS`` (loaded with ``limit`` per split and ``seed``) or an already
    loaded :class:`LabelledImageSet`. ``linear=False`` skips the linear probe (its keys are then ``None``).
    """
    data = _resolve_dataset(dataset, limit, seed)
    extract = dict(image_size=image_size, image_processor=image_processor, batch_size=batch_size)
    train = extract_features(model, data.train.images, **extract)
    test = extract_features(model, data.test.images, **extract)
    return _probe(train, test, data, k=k, temperature=temperature, weight_decay=weight_decay, linear=linear, seed=seed)


def evaluate_raw_pixels(
    dataset: str | LabelledImageSet = "digits",
    *,
    limit: int | None = None,
    seed: int = 0,
    k: int = 20,
    temperature: float = 0.07,
    weight_decay: float | Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    linear: bool = True,
) -> dict[str, Any]:
    """The same probes on the flattened pixels (scaled to 0..1): the baseline no learned feature should lose to."""
    data = _resolve_dataset(dataset, limit, seed)
    train = torch.from_numpy(data.train.images.reshape(len(data.train), -1).astype(np.float32) / 255.0)
    test = torch.from_numpy(data.test.images.reshape(len(data.test), -1).astype(np.float32) / 255.0)
    return _probe(train, test, data, k=k, temperature=temperature, weight_decay=weight_decay, linear=linear, seed=seed)


def random_init_like(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """A fresh instance of ``model``'s class from a copy of its config, initialised under ``seed``.

    The global RNG state is restored afterwards, so building the baseline does not shift any other randomness.
    """
    config = getattr(model, "config", None)
    if config is None:
        raise TypeError(
            f"{type(model).__name__} has no .config to rebuild it from: pass a transformers model such as VitoModel"
        )
    parameter = next(model.parameters(), None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = type(model)(copy.deepcopy(config))
    if parameter is not None:
        fresh = fresh.to(device=parameter.device, dtype=parameter.dtype)
    return fresh.eval()


def compare_to_random_init(
    model: torch.nn.Module,
    dataset: str | LabelledImageSet = "digits",
    *,
    limit: int | None = None,
    seed: int = 0,
    include_raw_pixels: bool = True,
    **probe_kwargs: Any,
) -> dict[str, Any]:
    """Evaluate ``model``, the same architecture at random initialisation and (optionally) raw pixels, side by side.

    Returns ``{"dataset": ..., "model": {...}, "random_init": {...}, "raw_pixels": {...}}`` where each inner dict is
    what :func:`evaluate_frozen_features` returns; ``probe_kwargs`` are passed on to it. :func:`format_comparison`
    turns the result into the table the demo prints.
    """
    data = _resolve_dataset(dataset, limit, seed)
    results: dict[str, Any] = {"dataset": data.name}
    results["model"] = evaluate_frozen_features(model, data, seed=seed, **probe_kwargs)
    results["random_init"] = evaluate_frozen_features(random_init_like(model, seed), data, seed=seed, **probe_kwargs)
    if include_raw_pixels:
        shared = ("k", "temperature", "weight_decay", "linear")
        pixel_kwargs = {key: probe_kwargs[key] for key in shared if key in probe_kwargs}
        results["raw_pixels"] = evaluate_raw_pixels(data, seed=seed, **pixel_kwargs)
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


def _resolve_dataset(dataset: str | LabelledImageSet, limit: int | None, seed: int) -> LabelledImageSet:
    if isinstance(dataset, LabelledImageSet):
        return dataset
    return load_labelled_images(dataset, limit=limit, seed=seed)


def _probe(
    train: torch.Tensor,
    test: torch.Tensor,
    data: LabelledImageSet,
    *,
    k: int,
    temperature: float,
    weight_decay: float | Sequence[float],
    linear: bool,
    seed: int,
) -> dict[str, Any]:
    num_classes = data.num_classes
    result: dict[str, Any] = {
        "dataset": data.name,
        "num_train": len(data.train),
        "num_test": len(data.test),
        "num_classes": num_classes,
        "feature_dim": int(train.shape[1]),
        "knn_top1": knn_accuracy(
            train, data.train.labels, test, data.test.labels, k=k, temperature=temperature, num_classes=num_classes
        ),
        "knn_k": k,
        "knn_temperature": temperature,
        "linear_top1": None,
        "linear_train_top1": None,
        "linear_weight_decay": None,
    }
    if linear:
        fit = linear_probe(
            train, data.train.labels, test, data.test.labels,
            weight_decay=weight_decay, seed=seed, num_classes=num_classes,
        )
        result.update(
            linear_top1=fit.accuracy, linear_train_top1=fit.train_accuracy, linear_weight_decay=fit.weight_decay
        )
    return result
