"""The weighted k-nearest-neighbour probe on frozen features (Wu et al. 2018, InstDisc; as evaluated in DINO).

Cosine similarity between L2-normalised features; the ``k`` most similar training items vote for their label with
weight ``exp(similarity / T)``. It has no trainable parts, so it measures the geometry of the features themselves.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .feature_arrays import ArrayLike, as_features, as_labels, check_pair, resolve_num_classes


def knn_predict(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    test_features: ArrayLike,
    *,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Class scores ``[N_test, num_classes]`` of the temperature-weighted kNN vote (argmax gives the prediction).

    Test items are processed ``chunk_size`` at a time, so memory stays ``chunk_size x N_train`` similarities.
    """
    train, labels, test = as_features(train_features), as_labels(train_labels), as_features(test_features)
    check_pair(train, labels, "train")
    if test.shape[1] != train.shape[1]:
        raise ValueError(f"test features have dimension {test.shape[1]} but train features {train.shape[1]}")
    if not 1 <= k <= len(train):
        raise ValueError(f"k must lie between 1 and the number of training items ({len(train)}), got {k}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    num_classes = resolve_num_classes(labels, num_classes)
    train = F.normalize(train, dim=1)
    test = F.normalize(test.to(train.dtype), dim=1)
    scores = torch.empty(len(test), num_classes, dtype=train.dtype)
    for start in range(0, len(test), chunk_size):
        similarity = test[start : start + chunk_size] @ train.T
        top_similarity, top_index = similarity.topk(k, dim=1)
        weights = (top_similarity / temperature).exp()
        votes = torch.zeros(len(weights), num_classes, dtype=train.dtype)
        votes.scatter_add_(1, labels[top_index], weights)
        scores[start : start + chunk_size] = votes
    return scores


def knn_accuracy(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    test_features: ArrayLike,
    test_labels: ArrayLike,
    *,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
) -> float:
    """Top-1 accuracy of the weighted kNN probe (k=20, T=0.07 as in DINO)."""
    test, targets = as_features(test_features), as_labels(test_labels)
    check_pair(test, targets, "test")
    scores = knn_predict(train_features, train_labels, test, k=k, temperature=temperature, num_classes=num_classes)
    return (scores.argmax(dim=1) == targets).double().mean().item()
