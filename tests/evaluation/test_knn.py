"""The weighted kNN probe: exact against a brute-force reference, accurate on real digits, chance on shuffled labels."""

import math

import numpy as np
import pytest
import torch

from vito_hf.evaluation import knn_accuracy, knn_predict, load_image_dataset


def brute_force_knn_scores(train, labels, test, k, temperature, num_classes):
    """Loop-by-loop reference of the DINO/InstDisc vote, written independently of the vectorised code."""
    scores = np.zeros((len(test), num_classes))
    for row, query in enumerate(test):
        similarities = []
        for item, label in zip(train, labels):
            cosine = float(np.dot(query, item) / (np.linalg.norm(query) * np.linalg.norm(item)))
            similarities.append((cosine, int(label)))
        similarities.sort(key=lambda pair: -pair[0])
        for cosine, label in similarities[:k]:
            scores[row, label] += math.exp(cosine / temperature)
    return scores


@pytest.fixture(scope="module")
def digits_pixels():
    data = load_image_dataset("digits")

    def flat(split):
        pixels = np.stack([np.asarray(image) for image in split["image"]]).reshape(len(split), -1)
        return (pixels / 255.0).astype(np.float32)

    return flat(data.train), data.labels("train"), flat(data.test), data.labels("test")


@pytest.mark.parametrize("chunk_size", [1024, 4])
def test_scores_match_brute_force_reference(chunk_size):
    rng = np.random.default_rng(0)
    train = rng.normal(size=(60, 8))
    labels = rng.integers(0, 4, size=60)
    test = rng.normal(size=(25, 8))
    expected = brute_force_knn_scores(train, labels, test, k=7, temperature=0.1, num_classes=5)
    scores = knn_predict(train, labels, test, k=7, temperature=0.1, num_classes=5, chunk_size=chunk_size)
    assert scores.shape == (25, 5)
    assert torch.allclose(scores, torch.from_numpy(expected), rtol=1e-10)
    assert (scores.argmax(1).numpy() == expected.argmax(1)).all()


def test_k1_returns_label_of_most_cosine_similar_item_and_ignores_feature_length():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(40, 6)).astype(np.float32)
    labels = rng.integers(0, 3, size=40)
    test = rng.normal(size=(15, 6)).astype(np.float32)
    cosine = (test / np.linalg.norm(test, axis=1, keepdims=True)) @ (train / np.linalg.norm(train, axis=1, keepdims=True)).T
    nearest_labels = labels[cosine.argmax(1)]
    assert knn_accuracy(train, labels, test, nearest_labels, k=1) == 1.0
    rescaled = train * rng.uniform(0.1, 10.0, size=(40, 1)).astype(np.float32)
    assert torch.allclose(knn_predict(train, labels, test), knn_predict(rescaled, labels, test), rtol=1e-4)


def test_raw_digit_pixels_are_classified_well(digits_pixels):
    train, train_labels, test, test_labels = digits_pixels
    assert knn_accuracy(train, train_labels, test, test_labels) > 0.95  # measured 0.976 with k=20, T=0.07


def test_shuffled_training_labels_give_chance_accuracy(digits_pixels):
    train, train_labels, test, test_labels = digits_pixels
    rng = np.random.default_rng(0)
    accuracies = [knn_accuracy(train, rng.permutation(train_labels), test, test_labels) for _ in range(3)]
    assert np.mean(accuracies) < 0.2  # chance is 0.1


def test_bad_inputs_raise_clear_errors():
    features, labels = np.ones((5, 3), np.float32), np.arange(5)
    with pytest.raises(ValueError, match="k must lie between 1 and the number of training items"):
        knn_predict(features, labels, features, k=6)
    with pytest.raises(ValueError, match="5 train features but 4 train labels"):
        knn_predict(features, labels[:4], features)
    with pytest.raises(ValueError, match="dimension"):
        knn_predict(features, labels, np.ones((2, 4), np.float32), k=2)
    with pytest.raises(ValueError, match="1-D integer"):
        knn_predict(features, labels.astype(float), features, k=2)
    with pytest.raises(ValueError, match="temperature must be positive"):
        knn_predict(features, labels, features, k=2, temperature=0.0)
