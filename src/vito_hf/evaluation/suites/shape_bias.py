"""The "shape-bias" suite: shape vs texture decisions on cue-conflict stimuli (the model-vs-human benchmark)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from ..cue_conflict import (
    cue_conflict_categories,
    fashion_category_names,
    imagenet_to_category_decisions,
    read_cue_conflict,
    write_fashion_cue_conflict,
)
from ..batched_inputs import preprocessing_path
from ..davis import folder_fingerprint
from ..features import extract_features, feature_protocol, images_to_pixel_values, resolve_processor
from ..image_inputs import IMAGE_SUFFIXES, load_rgb, rgb_at_size, suite_image_size
from ..linear_probe import fit_linear_probe
from ..metrics import load_metric
from ..offline_data import item_images
from ..pictures import plot_per_category
from ..results import SuiteResult, card_metric

DECISIONS = ("auto", "imagenet", "probe")


def run_shape_bias_suite(
    model: torch.nn.Module,
    image_processor: object | None,
    *,
    output_dir: Path,
    quick: bool = False,
    seed: int = 0,
    cue_conflict_root: str | Path | None = None,
    clean_root: str | Path | None = None,
    decision: str = "auto",
) -> SuiteResult:
    """Shape bias on the model-vs-human cue-conflict set (``cue_conflict_root``) or on Fashion-MNIST stimuli.

    ``decision``: ``"imagenet"`` maps an ImageNet-1k head's probabilities to the 16 categories; ``"probe"`` trains
    a linear probe on clean images of the categories (``clean_root``: an image folder ``<category>/<image>``;
    for the generated stimuli, Fashion-MNIST's training images); ``"auto"`` uses the head when the model has one
    and the stimuli are the benchmark's 16 categories.
    """
    if decision not in DECISIONS:
        raise ValueError(f"decision must be 'auto', 'imagenet' or 'probe', got {decision!r}")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    size = suite_image_size(image_processor, quick)
    generated = cue_conflict_root is None
    if generated:
        cue_conflict_root = output_dir / "generated_data" / "cue_conflict_fashion_mnist"
        if not cue_conflict_root.is_dir():
            write_fashion_cue_conflict(cue_conflict_root, per_pair=1 if quick else 4, seed=seed)
    stimuli_set = read_cue_conflict(cue_conflict_root)
    paths, shapes, textures = stimuli_set.paths, stimuli_set.shapes, stimuli_set.textures
    if decision == "auto":
        benchmark = set(shapes) | set(textures) <= set(cue_conflict_categories())
        decision = "imagenet" if benchmark and _has_imagenet_head(model) else "probe"
    stimuli = load_rgb(paths, size)
    if decision == "imagenet":
        predictions = _imagenet_decisions(model, image_processor, size, stimuli, set(shapes) | set(textures))
        decided_by = "ImageNet-1k head, mean probability per category (WordNet hyponyms)"
    else:
        clean, clean_labels = _clean_images(generated, clean_root, size, quick, seed)
        predictions = _probe_decisions(_encoder(model), image_processor, size, clean, clean_labels, stimuli)
        decided_by = f"linear probe on {len(clean)} clean images of the categories"
    result = load_metric("shape_bias").compute(predictions=predictions, shape_labels=shapes, texture_labels=textures)
    picture = plot_per_category(result["per_category"], result["shape_bias"], output_dir / "shape_bias.png",
                                title="Shape bias per shape category")
    result = {**_defined(result), "skipped_files": len(stimuli_set.skipped)}
    name = "Fashion-MNIST cue-conflict (generated)" if generated else "model-vs-human cue-conflict"
    return SuiteResult(
        dataset={"name": name, "path": str(cue_conflict_root), "fingerprint": folder_fingerprint(cue_conflict_root),
                 "stimuli": len(paths)},
        settings={"decision": decision, "decided_by": decided_by, "image_size": size,
                  "preprocessing": preprocessing_path(resolve_processor(image_processor, size))},
        protocol=_protocol(decision, size, _encoder(model)),
        results=result,
        metrics=_metrics(result, name),
        pictures=[str(picture.relative_to(output_dir))],
        details={
            "skipped_files": stimuli_set.skipped,
            "trials": [
                {"file": path.relative_to(cue_conflict_root).as_posix(), "shape": shape, "texture": texture,
                 "decision": decided}
                for path, shape, texture, decided in zip(paths, shapes, textures, predictions)
            ],
        },
    )


def _has_imagenet_head(model: torch.nn.Module) -> bool:
    return getattr(getattr(model, "config", None), "num_labels", None) == 1000 and hasattr(model, "classifier")


def _encoder(model: torch.nn.Module) -> torch.nn.Module:
    """The part of ``model`` whose outputs carry ``pooler_output`` (a classification model's base model)."""
    return model if not hasattr(model, "classifier") else getattr(model, "base_model", model)


def _imagenet_decisions(model, image_processor, size: int, stimuli: np.ndarray, categories: set[str]) -> list[str]:
    if not (categories <= set(cue_conflict_categories()) and _has_imagenet_head(model)):
        raise ValueError("decision='imagenet' needs a model with a 1000-class head and the 16 benchmark categories")
    return imagenet_to_category_decisions(_imagenet_probabilities(model, stimuli, size, image_processor))


def _imagenet_probabilities(model, images: np.ndarray, size: int, image_processor, batch_size: int = 64) -> torch.Tensor:
    mean = getattr(image_processor, "image_mean", None) or IMAGENET_DEFAULT_MEAN
    std = getattr(image_processor, "image_std", None) or IMAGENET_DEFAULT_STD
    parameter = next(model.parameters())
    was_training = model.training
    model.eval()
    chunks = []
    try:
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                pixels = images_to_pixel_values(images[start : start + batch_size], size, image_mean=mean, image_std=std)
                logits = model(pixel_values=pixels.to(parameter.device, parameter.dtype)).logits
                chunks.append(logits.float().softmax(-1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(chunks)


def _clean_images(
    generated: bool, clean_root: str | Path | None, size: int, quick: bool, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Clean images of the categories and their category names, to train the probe that decides."""
    if generated:
        per_class = 30 if quick else 300
        data = item_images(limit=per_class * len(fashion_category_names()), seed=seed).train
        return rgb_at_size(data.images, size), np.asarray(fashion_category_names())[data.labels]
    if clean_root is None:
        raise ValueError(
            "this model has no ImageNet-1k head: pass clean_root, an image folder <category>/<image> of clean "
            "images of the cue-conflict categories, to train the probe that decides"
        )
    paths = sorted(p for p in Path(clean_root).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no images under {clean_root}; expected <category>/<image> files")
    return load_rgb(paths, size), np.asarray([p.parent.name for p in paths])


def _probe_decisions(
    encoder: torch.nn.Module, image_processor, size: int, clean: np.ndarray, clean_labels: np.ndarray,
    stimuli: np.ndarray,
) -> list[str]:
    categories, clean_indices = np.unique(clean_labels, return_inverse=True)
    probe = fit_linear_probe(
        extract_features(encoder, clean, image_size=size, image_processor=image_processor), clean_indices
    )
    stimulus_features = extract_features(encoder, stimuli, image_size=size, image_processor=image_processor)
    return [str(categories[index]) for index in probe.predict(stimulus_features)]


def _defined(result: dict[str, Any]) -> dict[str, Any]:
    """Undefined values (no trial decided by a cue) become null in the results and are left out of the metrics."""

    def defined(value):
        return None if isinstance(value, float) and np.isnan(value) else value

    result = {key: defined(value) for key, value in result.items()}
    result["per_category"] = {key: defined(value) for key, value in result["per_category"].items()}
    return result


def _protocol(decision: str, size: int, encoder: torch.nn.Module) -> dict[str, Any]:
    protocol = {
        "decision": "ImageNet-1k probabilities averaged per category over its WordNet hyponyms (model-vs-human)"
        if decision == "imagenet" else "a linear probe trained on clean images of the categories (no 16-way head)",
        "resize": f"whole stimulus resized (bicubic) to {size}x{size}",
        "stimulus_names": "shape = the file's folder, texture = the name's last '-' part after any '_' prefix, "
                          "digits removed (model-vs-human's ShapeBias); other image files skipped and counted",
        "fractions": "shape_match and texture_match divide by all trials, as model-vs-human's fraction-correct-shape/"
                     "-texture; shape_bias = shape / (shape + texture) decisions on conflict trials",
    }
    return protocol if decision == "imagenet" else {**protocol, **feature_protocol(encoder)}


def _metrics(result: dict[str, Any], name: str) -> list[dict[str, Any]]:
    if result["shape_bias"] is None:
        return []
    return [card_metric(result["shape_bias"], task_type="image-classification", task_name="Shape bias (cue conflict)",
                        dataset_type="cue-conflict", dataset_name=name, metric_type="shape-bias",
                        metric_name="Shape bias")]
