"""Any labelled image set as a `datasets` train/test pair: the input of the probes and of image fine-tuning.

A source is one of the offline toy sets (``digits``, ``fashion-mnist``, ``mnist-5k``), a folder written by
``save_to_disk``, an ``imagefolder`` directory (class-named subfolders, or train/test folders of them), or a Hub
dataset name (online only). The image column (an ``Image`` feature) and the label column (a ``ClassLabel``) are
found by their feature types unless named. A set without a test split gets a seeded, stratified one; ``limit``
caps each split with a class-balanced subset, so a probe on a few hundred images still sees every class.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np

from .labelled_images import AVAILABLE_DATASETS, ImageSplit, LabelledImageSet, load_toy_dataset

HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
"""A Hub dataset id (``name`` or ``owner/name``); anything else that is not an existing folder is a bad path."""


class ImageDatasetError(ValueError):
    """An image dataset cannot be loaded or used; the message says what to change."""


@dataclass(frozen=True)
class ImageDataset:
    """Train and test splits of a labelled image set; ``label_column`` values index into ``class_names``."""

    name: str
    train: datasets.Dataset
    test: datasets.Dataset
    image_column: str
    label_column: str
    class_names: tuple[str, ...]
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def labels(self, split: str) -> np.ndarray:
        """The int64 labels of ``"train"`` or ``"test"``."""
        return np.asarray(_labels(getattr(self, split), self.label_column), dtype=np.int64)

    def arrays(self, split: str) -> ImageSplit:
        """``"train"`` or ``"test"`` decoded to one uint8 array (images must share a size) and int64 labels."""
        images = [np.asarray(image) for image in getattr(self, split)[self.image_column]]
        if len({image.shape for image in images}) != 1:
            raise ImageDatasetError(f"{self.name}/{split} holds images of several sizes: they do not stack")
        return ImageSplit(np.stack(images).astype(np.uint8, copy=False), self.labels(split))

    def identity(self) -> dict:
        """What results.json records about the data: name, where it came from, and per-split content fingerprints."""
        return {
            "name": self.name,
            "path": self.source,
            "image_column": self.image_column,
            "label_column": self.label_column,
            "num_classes": self.num_classes,
            "splits": {
                split: {"num_rows": len(getattr(self, split)), "fingerprint": getattr(self, split)._fingerprint}
                for split in ("train", "test")
            },
        }


def load_image_dataset(
    source: str | os.PathLike,
    *,
    train_split: str = "train",
    test_split: str | None = None,
    image_column: str | None = None,
    label_column: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    test_fraction: float = 0.25,
) -> ImageDataset:
    """Load ``source`` (see the module docstring) as an :class:`ImageDataset`.

    ``test_split`` defaults to ``"test"``, then ``"validation"``; when the set has neither, a stratified
    ``test_fraction`` of ``train_split`` (drawn with ``seed``) becomes the test split.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of images per split or None, got {limit}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    name = str(source)
    if name in AVAILABLE_DATASETS:
        splits, shown = load_toy_dataset(name), name
    else:
        splits, shown = _load_splits(name), Path(name).name or name
    return prepare_image_dataset(
        splits, name=shown, source=name, train_split=train_split, test_split=test_split,
        image_column=image_column, label_column=label_column, limit=limit, seed=seed, test_fraction=test_fraction,
    )


def load_labelled_images(
    name: str, *, limit: int | None = None, seed: int = 0, test_fraction: float = 0.25
) -> LabelledImageSet:
    """Any image set :func:`load_image_dataset` loads (split and limited the same way), decoded to uint8 arrays,
    for code that alters pixels before encoding them. Needs images of one size."""
    data = load_image_dataset(name, limit=limit, seed=seed, test_fraction=test_fraction)
    return LabelledImageSet(
        name=data.name, train=data.arrays("train"), test=data.arrays("test"), class_names=data.class_names
    )


def prepare_image_dataset(
    splits: datasets.DatasetDict,
    *,
    name: str,
    source: str,
    train_split: str = "train",
    test_split: str | None = None,
    image_column: str | None = None,
    label_column: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    test_fraction: float = 0.25,
) -> ImageDataset:
    """Pick the columns and splits of an already loaded ``DatasetDict`` (see :func:`load_image_dataset`)."""
    if train_split not in splits:
        raise ImageDatasetError(f"{name} has no split {train_split!r}; its splits are {sorted(splits)}")
    train = splits[train_split]
    image_column = image_column or _column_of_type(train, datasets.Image, "image", name)
    label_column = label_column or _column_of_type(train, datasets.ClassLabel, "label", name)
    for column in (image_column, label_column):
        if column not in train.column_names:
            raise ImageDatasetError(f"{name} has no column {column!r}; its columns are {train.column_names}")
    label_feature = train.features[label_column]
    if not isinstance(label_feature, datasets.ClassLabel):
        train = train.class_encode_column(label_column)
        label_feature = train.features[label_column]
    rng = np.random.default_rng(seed)
    wanted = [test_split] if test_split is not None else ["test", "validation"]
    found = next((split for split in wanted if split in splits and split != train_split), None)
    if found is None and test_split is not None:
        raise ImageDatasetError(f"{name} has no split {test_split!r}; its splits are {sorted(splits)}")
    if found is None:
        train_index, test_index = stratified_split(_labels(train, label_column), test_fraction, rng)
        train, test = train.select(train_index), train.select(test_index)
    else:
        test = splits[found]
        if test.features[label_column] != label_feature:
            test = test.cast_column(label_column, label_feature)
    if limit is not None:
        train = train.select(balanced_subset(_labels(train, label_column), limit, rng))
        test = test.select(balanced_subset(_labels(test, label_column), limit, rng))
    if len(train) == 0 or len(test) == 0:
        raise ImageDatasetError(f"{name}: the train or test split is empty")
    return ImageDataset(
        name=name, train=train, test=test, image_column=image_column, label_column=label_column,
        class_names=tuple(label_feature.names), source=source,
    )


def _labels(split: datasets.Dataset, column: str) -> np.ndarray:
    """A label column as an array. ``split[column]`` is a lazy column in datasets 5 that ``np.asarray`` walks row by
    row (about 5 s for Fashion-MNIST's 70,000); slicing it reads the column at once."""
    return np.asarray(split[column][:])


def stratified_split(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Per class, a random ``test_fraction`` of the indices goes to test; both index arrays come back sorted."""
    test = []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        test.append(members[: int(round(test_fraction * len(members)))])
    test_index = np.sort(np.concatenate(test))
    train_index = np.setdiff1d(np.arange(len(labels)), test_index)
    return train_index, test_index


def balanced_subset(labels: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of at most ``limit`` items, drawn round-robin over classes so each class gets its share."""
    if limit >= len(labels):
        return np.arange(len(labels))
    per_class = [rng.permutation(np.flatnonzero(labels == cls)) for cls in np.unique(labels)]
    # Rank every item within its class; taking the lowest ranks first spreads the limit evenly over the classes.
    ranks = np.empty(len(labels), dtype=np.int64)
    for members in per_class:
        ranks[members] = np.arange(len(members))
    tie_break = rng.permutation(len(labels))
    order = np.lexsort((tie_break, ranks))
    return np.sort(order[:limit])


def _load_splits(source: str) -> datasets.DatasetDict:
    path = Path(source)
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            loaded = datasets.load_from_disk(str(path))
            return loaded if isinstance(loaded, datasets.DatasetDict) else datasets.DatasetDict(train=loaded)
        try:
            return datasets.load_dataset("imagefolder", data_dir=str(path))
        except Exception as error:
            raise ImageDatasetError(
                f"{path} is neither a saved dataset (save_to_disk) nor an imagefolder of class-named subfolders "
                f"of images: {error}"
            ) from error
    if not HUB_NAME.fullmatch(source):
        raise ImageDatasetError(
            f"{source} does not exist: pass an existing folder, a Hub dataset name, or one of "
            f"{', '.join(AVAILABLE_DATASETS)}"
        )
    try:
        return datasets.load_dataset(source)
    except Exception as error:
        raise ImageDatasetError(
            f"could not load the Hub dataset {source!r} ({type(error).__name__}: {error}). Without network access, "
            "download it elsewhere, `save_to_disk` it, and pass that folder"
        ) from error


def _column_of_type(dataset: datasets.Dataset, feature_type: type, fallback: str, name: str) -> str:
    matches = [column for column, feature in dataset.features.items() if isinstance(feature, feature_type)]
    if len(matches) == 1:
        return matches[0]
    if fallback in dataset.column_names:
        return fallback
    raise ImageDatasetError(
        f"cannot tell which column of {name} holds the {fallback}s (columns: {dataset.column_names}); "
        f"name it with {fallback}_column="
    )
