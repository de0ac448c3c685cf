"""A held-out measure of the mechanism the paper names: invariance to the deformations that time brings to an object.

Between two frames of a video an object rotates, changes scale, turns (squashes), is lit differently and may be
occluded; two augmentations of one image show none of that. The measure renders each held-out item (Fashion-MNIST
*test* items over the *held-out* backgrounds) twice:

- a query at time ``t``, and
- a key at time ``t + gap_seconds`` of the same scene (the item moved, rotated, rescaled, turned, relit, the
  occluder went on), pasted over a *different* background drawn afresh,

and asks, for each query, whether its nearest key (cosine similarity of the frozen features, among the keys of all
items) is its own item: ``deformation_retrieval``, top-1, chance ``1 / num_items``. The same retrieval with the key
at the *same* time (only the background changed), ``background_retrieval``, is the control: their difference is what
the deformations themselves cost. Because the key's background is new, neither can be solved by the background.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ..evaluation.features import extract_features
from .benchmark_data import fashion_items
from .scenes import SceneStyle, backgrounds, draw_scene


@dataclass(frozen=True)
class DeformationPairs:
    """uint8 ``[N, size, size, 3]`` queries, keys after ``gap_seconds``, keys at the query's time, and labels."""

    queries: np.ndarray
    deformed_keys: np.ndarray
    background_keys: np.ndarray
    labels: np.ndarray


def deformation_pairs(
    num_items: int, *, size: int, seed: int, style: SceneStyle = SceneStyle(), gap_seconds: float = 1.5
) -> DeformationPairs:
    """Render the query/key images of ``num_items`` class-balanced held-out items (deterministic under ``seed``)."""
    items, labels = fashion_items("test", num_items, seed + 2)
    scenery = backgrounds("held_out")
    queries, deformed, same_time = [], [], []
    for index in range(num_items):
        rng = np.random.default_rng([seed, 4, index])
        scene = draw_scene(items, labels, index, scenery, rng, style)
        start = float(rng.uniform(0, 2))
        others = [background for background in scenery if background.name != scene.background.name]
        elsewhere = replace(  # the same item on its path, over another of the held-out backgrounds
            scene,
            background=others[rng.integers(len(others))],
            pan_start=tuple(rng.uniform(0, 1, 2)),
            zoom=float(rng.uniform(*style.zoom)),
        )
        queries.append(scene.render(start, size)[0])
        deformed.append(elsewhere.render(start + gap_seconds, size)[0])
        same_time.append(elsewhere.render(start, size)[0])
    return DeformationPairs(np.stack(queries), np.stack(deformed), np.stack(same_time), np.asarray(labels))


def retrieval_top1(queries: torch.Tensor, keys: torch.Tensor) -> float:
    """Fraction of queries whose most cosine-similar key is the key of the same index."""
    similarity = torch.nn.functional.normalize(queries, dim=1) @ torch.nn.functional.normalize(keys, dim=1).T
    return float((similarity.argmax(dim=1) == torch.arange(len(queries))).float().mean())


def measure_invariance(model: torch.nn.Module, pairs: DeformationPairs, *, image_size: int) -> dict[str, float]:
    """``deformation_retrieval`` and ``background_retrieval`` (see the module docstring) of ``model``'s features."""
    features = [extract_features(model, images, image_size=image_size)
                for images in (pairs.queries, pairs.deformed_keys, pairs.background_keys)]
    return {
        "deformation_retrieval": retrieval_top1(features[0], features[1]),
        "background_retrieval": retrieval_top1(features[0], features[2]),
    }
