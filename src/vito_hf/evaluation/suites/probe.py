"""The "probe" suite: frozen-feature kNN and linear probes on labelled image sets, beside their baselines."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..features import feature_protocol
from ..image_datasets import ImageDataset, ImageDatasetError, load_image_dataset
from ..labelled_images import LabelledImagesUnavailableError
from ..linear_probe import DEFAULT_WEIGHT_DECAYS
from ..probe import compare_to_random_init, evaluate_frozen_features
from ..probe_table import write_probe_table
from ..results import SuiteResult, card_metric

logger = logging.getLogger(__name__)

DEFAULT_PROBE_DATASETS = ("fashion-mnist", "digits")
QUICK_LIMIT = 300
"""Images per split of each probe dataset under ``quick=True``."""


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
) -> SuiteResult:
    """kNN and linear probes on each of ``datasets`` (see :func:`~vito_hf.evaluation.load_image_dataset`).

    ``quick`` caps each split at :data:`QUICK_LIMIT` images unless ``limit`` is given. With ``baselines``, the
    same architecture at random init and raw pixels are probed beside the model. A toy set that is not installed
    is skipped with a warning; any other unloadable dataset is an error. Writes ``probe_table.png``.
    """
    limit = limit if limit is not None else (QUICK_LIMIT if quick else None)
    loaded, skipped = _load_datasets(datasets, limit, seed)
    probe_kwargs = dict(k=k, temperature=temperature, batch_size=batch_size, image_processor=image_processor,
                        cache_dir=cache_dir, progress=True)
    tables = {}
    for data in loaded:
        if baselines:
            tables[data.name] = compare_to_random_init(model, data, seed=seed, **probe_kwargs)
        else:
            tables[data.name] = {
                "dataset": data.name, "model": evaluate_frozen_features(model, data, seed=seed, **probe_kwargs),
            }
    output_dir.mkdir(parents=True, exist_ok=True)
    write_probe_table(tables, output_dir / "probe_table.png")
    return SuiteResult(
        dataset={data.name: data.identity() for data in loaded},
        settings={"datasets": list(datasets), "limit_per_split": limit, "knn_k": k, "knn_temperature": temperature,
                  "linear_weight_decays": list(DEFAULT_WEIGHT_DECAYS), "baselines": baselines, "skipped": skipped},
        protocol=_protocol(model),
        results=tables,
        metrics=[metric for data in loaded for metric in _metrics(data, tables[data.name]["model"])],
        pictures=["probe_table.png"],
    )


def _load_datasets(names: Sequence[str], limit: int | None, seed: int) -> tuple[list[ImageDataset], dict[str, str]]:
    """The loadable datasets, and the reason each toy set that is not installed was skipped."""
    loaded, skipped = [], {}
    for name in names:
        try:
            loaded.append(load_image_dataset(name, limit=limit, seed=seed))
        except LabelledImagesUnavailableError as error:
            logger.warning("Skipping probe dataset %s: %s", name, error)
            skipped[name] = str(error)
    if not loaded:
        raise ImageDatasetError(f"none of the probe datasets {list(names)} could be loaded: {skipped}")
    return loaded, skipped


def _protocol(model: torch.nn.Module) -> dict[str, Any]:
    return {
        **feature_protocol(model),
        "preprocessing": "the checkpoint's image processor (resize, center crop, its mean/std), else short side "
                         "256/224 of 224 px, center crop, ImageNet mean/std (DINO's eval_knn)",
        "knn": "cosine similarity of L2-normalised features, top-k votes weighted by exp(similarity / T) (DINO's "
               "eval_knn)",
        "linear": "multinomial logistic regression on standardised features, full-batch L-BFGS, weight decay "
                  "chosen on a held-out part of train",
    }


def _metrics(data: ImageDataset, row: dict[str, Any]) -> list[dict[str, Any]]:
    common = {"task_type": "image-classification", "dataset_type": data.source, "dataset_name": data.name,
              "metric_type": "accuracy"}
    metrics = [card_metric(row["knn_top1"], task_name="frozen-feature kNN probe",
                           metric_name=f"kNN top-1 (k={row['knn_k']}, T={row['knn_temperature']})", **common)]
    if row["linear_top1"] is not None:
        metrics.append(card_metric(row["linear_top1"], task_name="frozen-feature linear probe",
                                   metric_name="linear probe top-1", **common))
    return metrics
