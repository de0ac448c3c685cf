"""The classifier filter: keep a video for a class if an image classifier names that class on a frame.

Any `AutoModelForImageClassification` (a local folder or a Hub id) with its
image processor (PIL backend; without one, ImageNet normalisation at the
model's image size) runs on the first N frames of a video, in batches, on the
GPU when there is one. A query class passes when it is the top-1 prediction on
at least one frame (the paper's rule); its hit count and best probability are
recorded.

Taxonomy class -> classifier label: when the classifier has exactly as many
labels as the taxonomy has classes, class i is label i (the ImageNet-1k list
and every ImageNet-1k classifier share one order). Otherwise by name: a class
maps to every label whose comma-separated names share a normalised name with
the class's name or synonyms; classes without such a label cannot pass.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.decoding import iter_frames
from .matching import normalize_words
from .taxonomy import Taxonomy

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class ClassifierMappingError(ValueError):
    """The classifier's labels cannot be related to the taxonomy's classes."""


@dataclass(frozen=True)
class ClassCheck:
    """How one query class fared on a video: top-1 frames and best probability among its labels."""

    hits: int
    best_score: float


def map_taxonomy_to_labels(taxonomy: Taxonomy, id2label: dict[int, str]) -> tuple[str, list[frozenset[int]]]:
    """('index' or 'name', the classifier label indices of each taxonomy class)."""
    num_labels = len(id2label)
    if num_labels == len(taxonomy):
        return "index", [frozenset({c.index}) for c in taxonomy]
    label_names: dict[tuple[str, ...], set[int]] = {}
    for label, text in id2label.items():
        for name in str(text).split(","):
            words = normalize_words(name)
            if words:
                label_names.setdefault(words, set()).add(int(label))
    mapping = []
    for cls in taxonomy:
        labels: set[int] = set()
        for name in cls.names:
            labels |= label_names.get(normalize_words(name), set())
        mapping.append(frozenset(labels))
    if not any(mapping):
        raise ClassifierMappingError(
            f"the classifier has {num_labels} labels and the taxonomy {len(taxonomy)} classes, and no label name "
            "equals a class name or synonym; use a classifier trained on the taxonomy's classes, or a taxonomy "
            "whose names match the classifier's id2label"
        )
    return "name", mapping


def _load_processor(model_name: str | os.PathLike):
    from transformers import AutoImageProcessor

    try:
        return AutoImageProcessor.from_pretrained(model_name, backend="pil")
    except (OSError, ValueError, KeyError):
        return None


def _imagenet_preprocess(frames: list[np.ndarray], size: int) -> torch.Tensor:
    """Resize the short side to size*256/224, centre-crop size x size, ImageNet-normalise."""
    batch = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    height, width = batch.shape[-2:]
    scale = round(size * 256 / 224) / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    batch = torch.nn.functional.interpolate(batch, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    batch = batch[..., top : top + size, left : left + size]
    mean = torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1)
    return (batch - mean) / std


@dataclass(frozen=True)
class ClassifierResult:
    """The checks of a video's query classes, the frames seen, and its most frequent top-1 labels."""

    checks: dict[int, ClassCheck]
    num_frames: int
    frequent_top1: tuple[str, ...]


class ClassifierFilter:
    """Runs an image classifier on a video's first frames and checks query classes against its top-1."""

    def __init__(
        self,
        model: str | os.PathLike,
        taxonomy: Taxonomy,
        *,
        num_frames: int = 100,
        batch_size: int = 32,
        device: str | torch.device | None = None,
    ):
        from transformers import AutoModelForImageClassification

        if num_frames < 1 or batch_size < 1:
            raise ValueError(f"num_frames ({num_frames}) and batch_size ({batch_size}) must be >= 1")
        self.name = str(model)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = AutoModelForImageClassification.from_pretrained(model).to(self.device).eval()
        self.processor = _load_processor(model)
        self.image_size = int(getattr(self.model.config, "image_size", 224) or 224)
        self.num_frames = num_frames
        self.batch_size = batch_size
        self.taxonomy = taxonomy
        self.mapping_rule, self.class_labels = map_taxonomy_to_labels(taxonomy, self.model.config.id2label)

    def _pixel_values(self, frames: list[np.ndarray]) -> torch.Tensor:
        if self.processor is None:
            return _imagenet_preprocess(frames, self.image_size)
        return self.processor(images=frames, return_tensors="pt")["pixel_values"]

    def decode(self, source: str | os.PathLike) -> torch.Tensor:
        """Pixel values [N, 3, H, W] of the first N frames, preprocessed `batch_size` frames at a time."""
        chunks, frames = [], []
        for frame in iter_frames(source, max_frames=self.num_frames):
            frames.append(frame)
            if len(frames) == self.batch_size:
                chunks.append(self._pixel_values(frames))
                frames = []
        if frames:
            chunks.append(self._pixel_values(frames))
        if not chunks:
            return torch.empty(0, 3, self.image_size, self.image_size)
        return torch.cat(chunks)

    @torch.inference_mode()
    def predict_pixels(self, videos: Sequence[torch.Tensor]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(top-1 label per frame, softmax probabilities) of each video's pixel values.

        The frames of all `videos` go through the model together, `batch_size` per forward pass, so
        one batch can hold frames of several videos (cross-video batching): with N frames per video
        and batch B > N, a per-video batch would leave the device (B - N)/B idle.
        """
        sizes = [len(v) for v in videos]
        if not sum(sizes):
            return [(np.zeros(0, dtype=np.int64), np.zeros((0, len(self.model.config.id2label)), np.float32)) for _ in videos]
        pixels = torch.cat([v for v in videos if len(v)])
        probs = []
        for start in range(0, len(pixels), self.batch_size):
            batch = pixels[start : start + self.batch_size].to(self.device)
            probs.append(self.model(pixel_values=batch).logits.float().softmax(dim=-1).cpu())
        every = torch.cat(probs)
        return [(p.argmax(dim=-1).numpy(), p.numpy()) for p in every.split(sizes)]

    def predict(self, source: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
        """(top-1 label per frame [N], softmax probabilities [N, num_labels]) for the first N frames."""
        return self.predict_pixels([self.decode(source)])[0]

    def check(self, source: str | os.PathLike | Path, classes: Sequence[int]) -> ClassifierResult:
        """Per query class: on how many of the first frames it is top-1, and its best probability."""
        return self.result(*self.predict(source), classes)

    def result(self, top1: np.ndarray, probs: np.ndarray, classes: Sequence[int]) -> ClassifierResult:
        """The checks of `classes` against one video's predictions (from `predict` or `predict_pixels`)."""
        if not len(top1):
            raise ValueError("no frame of the video could be decoded for the classifier")
        checks = {}
        for index in classes:
            labels = sorted(self.class_labels[index])
            hits = int(np.isin(top1, labels).sum()) if labels else 0
            best = float(probs[:, labels].max()) if labels else 0.0
            checks[index] = ClassCheck(hits=hits, best_score=best)
        values, counts = np.unique(top1, return_counts=True)
        order = np.argsort(-counts, kind="stable")[:3]
        top = tuple(str(self.model.config.id2label[int(values[i])]) for i in order)
        return ClassifierResult(checks=checks, num_frames=int(len(top1)), frequent_top1=top)
