"""A folder of class-named subfolders of videos (the UCF-101 layout) as a `datasets` set of clips for fine-tuning.

The stock ``videofolder`` builder lists the files and names the classes; ``datasets.Video`` would decode through
torchcodec (unusable beside the CPU torch wheel), so the column is kept undecoded and each clip is decoded with
PyAV (:mod:`vito_hf.data.decoding`) in a transform: ``num_frames`` frames spread evenly over the clip, each through
the image processor, giving ``pixel_values [num_frames, 3, S, S]`` for ``VitoForVideoClassification`` (which
averages the frames' features, the paper's UCF-101 protocol). Files that do not decode are dropped, with a
warning, before training starts, so one bad file never stops a run.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from ..data.decoding import VideoDecodeError, decode_frames_at, probe_video
from .features import batch_preparation, resolve_processor
from .image_datasets import ImageDatasetError, balanced_subset, stratified_split

logger = logging.getLogger(__name__)


def load_video_folder(
    root: str | os.PathLike,
    *,
    test_fraction: float = 0.25,
    seed: int = 0,
    limit: int | None = None,
) -> datasets.DatasetDict:
    """``train`` and ``test`` splits (``video``: ``{"path": ...}``, ``label``: ``ClassLabel``) of the folder.

    A folder with ``train/`` and ``test/`` subfolders keeps that split; otherwise a stratified ``test_fraction``
    (drawn with ``seed``) is held out. ``limit`` caps each split with a class-balanced subset.
    """
    root = Path(root)
    if not root.is_dir():
        raise ImageDatasetError(
            f"video folder {root} does not exist: pass a folder of class-named subfolders of videos"
        )
    try:
        splits = datasets.load_dataset("videofolder", data_dir=str(root))
    except Exception as error:
        raise ImageDatasetError(
            f"{root} is not a folder of class-named subfolders of videos ({type(error).__name__}: {error})"
        ) from error
    splits = splits.cast_column("video", datasets.Video(decode=False))
    rng = np.random.default_rng(seed)
    if "test" not in splits:
        train_index, test_index = stratified_split(np.asarray(splits["train"]["label"]), test_fraction, rng)
        everything = splits["train"]
        splits = datasets.DatasetDict(train=everything.select(train_index), test=everything.select(test_index))
    result = {}
    for name in ("train", "test"):
        split = _decodable(splits[name])
        if limit is not None:
            split = split.select(balanced_subset(np.asarray(split["label"]), limit, rng))
        if len(split) == 0:
            raise ImageDatasetError(f"the {name} split of {root} holds no decodable video")
        result[name] = split
    return datasets.DatasetDict(result)


def clip_frames(path: str, num_frames: int) -> np.ndarray:
    """``num_frames`` frames uint8 ``[T, H, W, 3]`` at the centres of ``num_frames`` equal spans of the clip."""
    info = probe_video(path)
    span = max(info.duration, 1e-6) / num_frames
    return decode_frames_at(path, [(index + 0.5) * span for index in range(num_frames)])


class VideoClipTransform:
    """``with_transform`` callable: ``video``/``label`` rows -> ``pixel_values [B, T, 3, S, S]`` and ``labels``."""

    def __init__(self, image_processor: Any | None, num_frames: int = 8) -> None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be positive, got {num_frames}")
        self.prepare = batch_preparation(resolve_processor(image_processor))
        self.num_frames = num_frames

    def __call__(self, batch: dict[str, list]) -> dict[str, torch.Tensor]:
        clips = []
        for video in batch["video"]:
            clips.append(self.prepare(clip_frames(video["path"], self.num_frames)))
        return {"pixel_values": torch.stack(clips), "labels": torch.as_tensor(batch["label"], dtype=torch.long)}


def _decodable(split: datasets.Dataset) -> datasets.Dataset:
    keep = []
    for index, video in enumerate(split["video"]):
        try:
            probe_video(video["path"])
            keep.append(index)
        except VideoDecodeError as error:
            logger.warning("Skipping %s: %s", video["path"], error)
    return split.select(keep) if len(keep) < len(split) else split
