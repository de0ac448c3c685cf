"""Any labelled image set through one path: a saved dataset folder, an imagefolder, a Hub name (offline: a clear
error), with image/label columns found by type, a seeded stratified test split when there is none, and limits."""

import datasets
import huggingface_hub.constants
import numpy as np
import pytest
from PIL import Image

from vito_hf.evaluation import ImageDatasetError, load_image_dataset, read_idx
from vito_hf.evaluation.labelled_images import FASHION_MNIST_DIR


@pytest.fixture(scope="module")
def fashion_items():
    """Real Fashion-MNIST test items: 12 of each of the classes 0 (T-shirt/top), 1 (Trouser) and 7 (Sneaker)."""
    images = read_idx(FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    picked = np.concatenate([np.flatnonzero(labels == cls)[:12] for cls in (0, 1, 7)])
    return [(images[i], int(labels[i])) for i in picked]


def write_imagefolder(root, items, names={0: "tshirt", 1: "trouser", 7: "sneaker"}):
    for index, (image, label) in enumerate(items):
        folder = root / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index:03d}.png")
    return root


def test_an_imagefolder_gets_class_names_from_folders_and_a_stratified_test_split(tmp_path, fashion_items):
    root = write_imagefolder(tmp_path / "items", fashion_items)
    data = load_image_dataset(root, test_fraction=0.25, seed=0)
    assert data.class_names == ("sneaker", "trouser", "tshirt")
    assert (data.image_column, data.label_column) == ("image", "label")
    assert (len(data.train), len(data.test)) == (27, 9)
    assert np.array_equal(np.bincount(data.labels("test")), [3, 3, 3])
    assert data.identity()["path"] == str(root) and data.name == "items"
    # The pixels are the real items, unchanged by the PNG round trip.
    stored = sorted(np.asarray(image).tobytes() for image in [*data.train["image"], *data.test["image"]])
    assert stored == sorted(image.tobytes() for image, _ in fashion_items)
    again = load_image_dataset(root, test_fraction=0.25, seed=0)
    assert again.identity() == data.identity()
    assert data.arrays("test").images.shape == (9, 28, 28)
    # Images of several sizes load and extract fine, but do not stack into one array.
    Image.fromarray(fashion_items[0][0]).resize((20, 20)).save(root / "tshirt" / "small.png")
    mixed = load_image_dataset(root, limit=40)
    with pytest.raises(ImageDatasetError, match="several sizes"):
        [mixed.arrays(split) for split in ("train", "test")]


def test_an_imagefolder_with_train_and_test_folders_keeps_its_split(tmp_path, fashion_items):
    write_imagefolder(tmp_path / "split" / "train", fashion_items[::2])
    write_imagefolder(tmp_path / "split" / "test", fashion_items[1::2])
    data = load_image_dataset(tmp_path / "split", limit=6)
    assert (len(data.train), len(data.test)) == (6, 6)
    assert np.array_equal(np.bincount(data.labels("train")), [2, 2, 2])


def test_a_saved_dataset_with_other_column_names_and_integer_labels(tmp_path, fashion_items):
    images = [Image.fromarray(image) for image, _ in fashion_items]
    table = datasets.Dataset.from_dict(
        {"picture": images, "fine_label": [label for _, label in fashion_items], "note": ["x"] * len(images)},
        features=datasets.Features(
            {"picture": datasets.Image(), "fine_label": datasets.Value("int64"), "note": datasets.Value("string")}
        ),
    )
    datasets.DatasetDict(train=table).save_to_disk(tmp_path / "saved")
    with pytest.raises(ImageDatasetError, match="label_column="):
        load_image_dataset(tmp_path / "saved")
    data = load_image_dataset(tmp_path / "saved", label_column="fine_label", seed=1)
    assert data.image_column == "picture"
    # Plain integers become a ClassLabel of their distinct values.
    assert data.class_names == ("0", "1", "7") and data.num_classes == 3
    assert len(data.train) + len(data.test) == 36
    with pytest.raises(ImageDatasetError, match="no split 'validation'"):
        load_image_dataset(tmp_path / "saved", label_column="fine_label", test_split="validation")


def test_bad_sources_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(ImageDatasetError, match="does not exist"):
        load_image_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageDatasetError, match="neither a saved dataset"):
        load_image_dataset(tmp_path / "empty")
    # Offline (as here), a Hub name fails at once with the way out.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ImageDatasetError, match="save_to_disk"):
        load_image_dataset("someone/some-image-set")
