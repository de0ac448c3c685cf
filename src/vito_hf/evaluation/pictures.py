"""PNG pictures of the evaluation suites (matplotlib, no display needed): masks, J&F, corruption curves, attention.

Each function writes one PNG (to a temporary name, then renamed) and returns its path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..atomic_files import write_atomic  # noqa: E402
from .davis import davis_palette  # noqa: E402


def _save(figure, path: str | os.PathLike) -> Path:
    try:
        return write_atomic(path, lambda temporary: figure.savefig(temporary, dpi=100, bbox_inches="tight"), suffix=".png")
    finally:
        plt.close(figure)


def plot_jf_per_sequence(per_sequence: Mapping[str, Mapping[str, float]], path: str | os.PathLike) -> Path:
    """Grouped bars of J, F and J&F for every sequence."""
    names = list(per_sequence)
    positions = np.arange(len(names))
    figure, axes = plt.subplots(figsize=(max(4, 1.2 * len(names) + 2), 3.2))
    for offset, key in zip((-0.27, 0, 0.27), ("J", "F", "JF")):
        axes.bar(positions + offset, [per_sequence[n][key] for n in names], width=0.26, label=key.replace("JF", "J&F"))
    axes.set_xticks(positions, names, rotation=20, ha="right")
    axes.set_ylim(0, 1)
    axes.set_ylabel("score")
    axes.set_title("Label propagation per sequence")
    axes.legend(loc="lower right")
    return _save(figure, path)


def plot_mask_overlays(
    frames: np.ndarray, labels: np.ndarray, path: str | os.PathLike, *, columns: int = 4
) -> Path:
    """Predicted label maps blended over evenly spaced frames, coloured with the DAVIS palette."""
    palette = np.asarray(davis_palette(), dtype=np.float32).reshape(256, 3)
    picks = np.linspace(0, len(frames) - 1, min(columns, len(frames))).round().astype(int)
    figure, axes = plt.subplots(1, len(picks), figsize=(3 * len(picks), 2.2), squeeze=False)
    for axis, index in zip(axes[0], picks):
        colour = palette[np.clip(labels[index], 0, 255)]
        blend = np.where(labels[index][..., None] > 0, 0.5 * frames[index] + 0.5 * colour, frames[index])
        axis.imshow(blend.astype(np.uint8))
        axis.set_title(f"frame {index}")
        axis.axis("off")
    return _save(figure, path)


def plot_accuracy_vs_severity(
    accuracy: Mapping[str, Sequence[float]], clean_accuracy: float, path: str | os.PathLike
) -> Path:
    """One small panel per corruption: accuracy at severities 1..5, with the clean accuracy as a dashed line."""
    names = list(accuracy)
    columns = min(5, len(names))
    rows = int(np.ceil(len(names) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.0 * rows), sharex=True, sharey=True, squeeze=False)
    for axis, name in zip(axes.flat, names):
        values = accuracy[name]
        axis.plot(range(1, len(values) + 1), values, marker="o")
        axis.axhline(clean_accuracy, linestyle="--", color="grey", linewidth=1)
        axis.set_title(name.replace("_", " "), fontsize=9)
        axis.set_ylim(0, 1)
    for axis in axes.flat[len(names) :]:
        axis.axis("off")
    figure.supxlabel("severity")
    figure.supylabel("accuracy")
    return _save(figure, path)


def plot_attention_maps(
    images: np.ndarray, maps: Sequence[np.ndarray], path: str | os.PathLike, *, scale_names: Sequence[str], title: str
) -> Path:
    """Rows: the images, then each scale's spatial map ``[N, h, w]`` upsampled and blended over the image."""
    from PIL import Image

    count = len(images)
    figure, axes = plt.subplots(1 + len(maps), count, figsize=(2 * count, 2 * (1 + len(maps))), squeeze=False)
    for column in range(count):
        image = images[column]
        axes[0, column].imshow(image)
        for row, (scale, scale_maps) in enumerate(zip(scale_names, maps), start=1):
            heat = np.asarray(
                Image.fromarray(scale_maps[column].astype(np.float32)).resize(image.shape[1::-1], Image.BILINEAR)
            )
            axes[row, column].imshow(image)
            axes[row, column].imshow(heat, cmap="inferno", alpha=0.6)
            if column == 0:
                axes[row, 0].set_ylabel(scale)
        for axis in axes[:, column]:
            axis.set_xticks([])
            axis.set_yticks([])
    axes[0, 0].set_ylabel("input")
    figure.suptitle(title)
    return _save(figure, path)


def plot_per_category(values: Mapping[str, float], overall: float, path: str | os.PathLike, *, title: str) -> Path:
    """Horizontal bars of one value per category with the overall value as a dashed line (shape bias plots)."""
    names = sorted(values)
    figure, axes = plt.subplots(figsize=(5, 0.35 * len(names) + 1.2))
    axes.barh(names, [0.0 if np.isnan(values[n]) else values[n] for n in names], color="tab:orange")
    if not np.isnan(overall):
        axes.axvline(overall, linestyle="--", color="black", label=f"overall {overall:.2f}")
        axes.legend(loc="lower right")
    axes.set_xlim(0, 1)
    axes.set_xlabel("fraction of shape decisions")
    axes.set_title(title)
    return _save(figure, path)
