"""Frozen-feature probes (kNN, linear) of an encoder on labelled image sets, the baselines that give them meaning,
and the "probe" evaluation suite.

A probe accuracy alone says little: a randomly initialised convolutional network already separates digits well.
:func:`compare_to_random_init` therefore evaluates the encoder, the same architecture at random initialisation
(same config, fixed seed) and the raw pixels side by side, on the same split with the same probes.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .feature_cache import cached_features, model_content_hash
from .image_datasets import ImageDataset, ImageDatasetError, load_image_dataset
from .knn import knn_accuracy
from .labelled_images import LabelledImagesUnavailableError
from .linear_probe import DEFAULT_WEIGHT_DECAYS, linear_probe
from .probe_table import write_probe_table

logger = logging.getLogger(__name__)

DEFAULT_PROBE_DATASETS = ("fashion-mnist", "digits")
QUICK_LIMIT = 300
"""Images per split of each probe dataset under ``quick=True``."""


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


def run_probe_suite(
    model: torch.nn.Module,
    image_processor: Any | None,
    *,
    output_dir: Path,
    quick: bool = False,
    seed: int = 0,
    datasets: Sequence[str] = DEFAULT_PROBE_DATASETS,
    limit: int | None = None,
    baselines: bool = True,
    k: int = 20,
    temperature: float = 0.07,
    batch_size: int = 256,
    cache_dir: str | os.PathLike | None = None,
    **_: Any,
) -> dict[str, Any]:
    """The "probe" suite: kNN and linear probes on each of ``datasets`` (see :func:`load_image_dataset`).

    ``quick`` caps each split at :data:`QUICK_LIMIT` images unless ``limit`` is given. With ``baselines``, the
    same architecture at random init and raw pixels are probed beside the model. A toy set that is not installed
    is skipped with a warning; any other unloadable dataset is an error. Writes ``probe_table.png``.
    """
    limit = limit if limit is not None else (QUICK_LIMIT if quick else None)
    probe_kwargs = dict(k=k, temperature=temperature, batch_size=batch_size, image_processor=image_processor,
                        cache_dir=cache_dir, progress=True)
    identities, tables, metrics, skipped = {}, {}, [], {}
    for name in datasets:
        try:
            data = load_image_dataset(name, limit=limit, seed=seed)
        except LabelledImagesUnavailableError as error:
            logger.warning("Skipping probe dataset %s: %s", name, error)
            skipped[name] = str(error)
            continue
        identities[data.name] = data.identity()
        if baselines:
            table = compare_to_random_init(model, data, seed=seed, **probe_kwargs)
        else:
            table = {"dataset": data.name, "model": evaluate_frozen_features(model, data, seed=seed, **probe_kwargs)}
        tables[data.name] = table
        metrics += _metrics(data, table["model"])
    if not tables:
        raise ImageDatasetError(f"none of the probe datasets {list(datasets)} could be loaded: {skipped}")
    output_dir.mkdir(parents=True, exist_ok=True)
    write_probe_table(tables, output_dir / "probe_table.png")
    return {
        "dataset": identities,
        "settings": {"datasets": list(datasets), "limit_per_split": limit, "knn_k": k, "knn_temperature": temperature,
                     "linear_weight_decays": list(DEFAULT_WEIGHT_DECAYS), "baselines": baselines, "skipped": skipped},
        "results": tables,
        "metrics": metrics,
        "pictures": ["probe_table.png"],
    }


def _metrics(data: ImageDataset, row: dict[str, Any]) -> list[dict[str, Any]]:
    common = {"task_type": "image-classification", "dataset_type": data.source, "dataset_name": data.name,
              "dataset_split": "test", "metric_type": "accuracy"}
    metrics = [{**common, "metric_value": row["knn_top1"], "task_name": "frozen-feature kNN probe",
                "metric_name": f"kNN top-1 (k={row['knn_k']}, T={row['knn_temperature']})"}]
    if row["linear_top1"] is not None:
        metrics.append({**common, "metric_value": row["linear_top1"], "task_name": "frozen-feature linear probe",
                        "metric_name": "linear probe top-1"})
    return metrics


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
