"""Video object segmentation by label propagation on frozen features (the DAVIS-2017 protocol of DINO and VFS).

Every frame is encoded on its own into a feature map. The labels of frame t come from the first frame (with its
ground-truth mask) and the ``num_context`` preceding frames (with their propagated soft masks): each location of
frame t takes its ``topk`` most similar locations (cosine similarity of L2-normalised features) among the context
locations within ``radius`` feature cells of it (a square window), weights them by ``softmax(similarity / T)`` and
averages their soft labels. The soft masks are upsampled bilinearly to the frame, each object's channel is min-max
normalised (as DINO does) and the argmax gives the label map. The affinity is computed tile by tile against only
the key cells within ``radius`` of the tile, so time and memory grow with the window, not with the frame squared.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from .davis import DavisSequence
from .metrics import load_metric


def _model_device_dtype(model: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    parameter = next(model.parameters(), None)
    if parameter is None:
        return torch.device("cpu"), torch.float32
    return parameter.device, parameter.dtype if parameter.is_floating_point() else torch.float32


def _tokens_to_map(tokens: torch.Tensor, model: torch.nn.Module, height: int, width: int) -> torch.Tensor:
    """``[B, N, C]`` tokens of a ViT-style model -> ``[B, C, H/p, W/p]``, dropping leading (CLS/register) tokens."""
    patch = getattr(getattr(model, "config", None), "patch_size", None)
    if patch is None:
        raise ValueError(f"{type(model).__name__} returns tokens but its config has no patch_size to lay them out")
    patch = patch if isinstance(patch, int) else int(patch[0])
    grid_h, grid_w = height // patch, width // patch
    extra = tokens.shape[1] - grid_h * grid_w
    if extra < 0:
        raise ValueError(f"{tokens.shape[1]} tokens cannot fill a {grid_h}x{grid_w} grid of {patch}-px patches")
    return tokens[:, extra:].transpose(1, 2).reshape(len(tokens), -1, grid_h, grid_w)


def frame_feature_maps(
    model: torch.nn.Module,
    frames: np.ndarray,
    *,
    image_processor: object | None = None,
    hidden_state_index: int | None = None,
    batch_size: int = 4,
) -> torch.Tensor:
    """Frozen feature maps ``[T, C, h, w]`` (float32, CPU) of uint8 frames ``[T, H, W, 3]`` at their own size.

    ``hidden_state_index`` picks ``hidden_states[i]`` (for VITO and ResNet: the embeddings, then every stage; -1 =
    conv5_x). By
    default convolutional models give their second-to-last stage (stride 16: VITO's and a ResNet's conv4_x, the
    stage VFS propagates with) and ViT-style models their ``last_hidden_state``, laid out on the patch grid.
    """
    mean = torch.tensor(getattr(image_processor, "image_mean", None) or IMAGENET_DEFAULT_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(getattr(image_processor, "image_std", None) or IMAGENET_DEFAULT_STD).view(1, 3, 1, 1)
    device, dtype = _model_device_dtype(model)
    # ViT-style models take frames of another size than they were trained at only with interpolated positions.
    extra = {"interpolate_pos_encoding": True} if "interpolate_pos_encoding" in inspect.signature(model.forward).parameters else {}
    was_training = model.training
    model.eval()
    maps = []
    try:
        with torch.inference_mode():
            for start in range(0, len(frames), batch_size):
                pixels = torch.from_numpy(np.ascontiguousarray(frames[start : start + batch_size]))
                pixels = (pixels.permute(0, 3, 1, 2).float() / 255 - mean) / std
                outputs = model(
                    pixel_values=pixels.to(device=device, dtype=dtype),
                    output_hidden_states=True,
                    return_dict=True,
                    **extra,
                )
                if hidden_state_index is not None:
                    features = outputs.hidden_states[hidden_state_index]
                elif outputs.last_hidden_state.ndim == 4 and len(outputs.hidden_states or ()) >= 2:
                    features = outputs.hidden_states[-2]
                else:
                    features = outputs.last_hidden_state
                if features.ndim == 3:
                    features = _tokens_to_map(features, model, pixels.shape[2], pixels.shape[3])
                maps.append(features.float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(maps).clone()


def propagate_step(
    query: torch.Tensor,
    keys: torch.Tensor,
    key_labels: torch.Tensor,
    *,
    radius: int = 12,
    topk: int = 5,
    temperature: float = 0.1,
) -> torch.Tensor:
    """Soft labels ``[K, h, w]`` of one frame from its normalised features ``query [C, h, w]`` and the context
    frames' normalised features ``keys [n, C, h, w]`` and soft labels ``key_labels [n, K, h, w]``.

    Queries are taken in square tiles of ``2 * radius + 1`` cells; a tile is compared (one matrix product) with the
    key cells within ``radius`` of the tile, and cells outside each query's own window are masked out.
    """
    contexts, channels, height, width = keys.shape
    num_labels = key_labels.shape[1]
    tile = 2 * radius + 1
    # Channels first, contexts next: a tile's keys flatten to [C, n * cells] for one 2-D matrix product.
    keys = keys.permute(1, 0, 2, 3)
    key_labels = key_labels.permute(0, 2, 3, 1)  # [n, h, w, K]
    result = torch.empty(num_labels, height, width)
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            y1, x1 = min(height, y0 + tile), min(width, x0 + tile)
            ky0, ky1, kx0, kx1 = max(0, y0 - radius), min(height, y1 + radius), max(0, x0 - radius), min(width, x1 + radius)
            q = query[:, y0:y1, x0:x1].reshape(channels, -1).T  # [Nq, C]
            similarity = q @ keys[:, :, ky0:ky1, kx0:kx1].reshape(channels, -1)  # [Nq, n * Nk]
            near_y = (torch.arange(y0, y1)[:, None] - torch.arange(ky0, ky1)[None, :]).abs() <= radius
            near_x = (torch.arange(x0, x1)[:, None] - torch.arange(kx0, kx1)[None, :]).abs() <= radius
            far = ~(near_y[:, None, :, None] & near_x[None, :, None, :]).reshape(len(q), 1, -1)
            similarity.view(len(q), contexts, -1).masked_fill_(far, float("-inf"))
            values, index = similarity.topk(min(topk, similarity.shape[1]), dim=1)
            weights = torch.softmax(values / temperature, dim=1)
            labels = key_labels[:, ky0:ky1, kx0:kx1].reshape(-1, num_labels)  # [n * Nk, K]
            soft = torch.einsum("qt,qtk->qk", weights, labels[index])  # [Nq, K]
            result[:, y0:y1, x0:x1] = soft.T.reshape(num_labels, y1 - y0, x1 - x0)
    return result


def _normalise_channels(soft: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each label channel that is anywhere positive (DINO's ``norm_mask``)."""
    flat = soft.flatten(1)
    low, high = flat.min(1).values, flat.max(1).values
    scaled = (flat - low[:, None]) / (high - low).clamp_min(1e-12)[:, None]
    return torch.where((high > 0)[:, None], scaled, flat).reshape(soft.shape)


def propagate_labels(
    features: torch.Tensor,
    first_labels: np.ndarray,
    *,
    num_context: int = 7,
    radius: int = 12,
    topk: int = 5,
    temperature: float = 0.1,
    progress: bool = False,
) -> np.ndarray:
    """Label maps ``[T, H, W]`` (int64, frame 0 = ``first_labels``) propagated over ``features [T, C, h, w]``."""
    if features.ndim != 4:
        raise ValueError(f"features must be [T, C, h, w], got shape {tuple(features.shape)}")
    if num_context < 0 or radius < 0 or topk < 1 or temperature <= 0:
        raise ValueError(
            f"need num_context >= 0, radius >= 0, topk >= 1, temperature > 0; got {num_context}, {radius}, {topk}, "
            f"{temperature}"
        )
    first_labels = np.asarray(first_labels)
    ids = np.unique(first_labels)
    if ids[0] != 0:
        ids = np.concatenate([[0], ids])
    height, width = first_labels.shape
    one_hot = torch.from_numpy(first_labels[None] == ids[:, None, None]).float()
    first_soft = F.adaptive_avg_pool2d(one_hot, features.shape[-2:])
    keys = F.normalize(features.float(), dim=1)
    history: list[tuple[torch.Tensor, torch.Tensor]] = []
    outputs = [first_labels.astype(np.int64)]
    for t in tqdm(range(1, len(keys)), desc="label propagation", disable=not progress, leave=False):
        context = [(keys[0], first_soft)] + history[-num_context:] if num_context else [(keys[0], first_soft)]
        soft = propagate_step(
            keys[t],
            torch.stack([k for k, _ in context]),
            torch.stack([s for _, s in context]),
            radius=radius,
            topk=topk,
            temperature=temperature,
        )
        history.append((keys[t], soft))
        upsampled = F.interpolate(soft[None], size=(height, width), mode="bilinear", align_corners=False)[0]
        outputs.append(ids[_normalise_channels(upsampled).argmax(0).numpy()])
    return np.stack(outputs)


def evaluate_sequences(
    sequences: Sequence[DavisSequence],
    encode,
    *,
    num_context: int = 7,
    radius: int = 12,
    topk: int = 5,
    temperature: float = 0.1,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """J&F of label propagation over DAVIS sequences; ``encode(frames) -> [T, C, h, w]`` gives the features.

    Frames are scored where an annotation of the same name exists; as in DAVIS's semi-supervised evaluation, the
    first frame (given) and the last frame are not scored. Returns the metric's result and the predicted label
    maps of each sequence.
    """
    metric = load_metric("davis_jf")
    predictions = {}
    sequence_ids = []
    for sequence in tqdm(sequences, desc="sequences", leave=False):
        frames = sequence.read_frames()
        annotations = sequence.read_annotations()
        predicted = propagate_labels(
            encode(frames), annotations[0], num_context=num_context, radius=radius, topk=topk, temperature=temperature
        )
        predictions[sequence.name] = predicted
        frame_index = {path.stem: index for index, path in enumerate(sequence.frames)}
        scored = [
            (frame_index[path.stem], annotation)
            for path, annotation in zip(sequence.annotations, annotations)
            if 0 < frame_index.get(path.stem, 0) < len(sequence.frames) - 1
        ]
        if not scored:
            raise ValueError(
                f"sequence {sequence.name!r} has no annotated frame between its first and last frame to score"
            )
        metric.add_batch(predictions=[predicted[i] for i, _ in scored], references=[a for _, a in scored])
        sequence_ids += [sequence.name] * len(scored)
    return metric.compute(sequence_ids=sequence_ids), predictions
