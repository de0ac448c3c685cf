"""Video object segmentation by label propagation on frozen features (the DAVIS-2017 protocol of DINO and VFS).

The defaults follow DINO's ``eval_video_segmentation.py`` (:class:`PropagationProtocol`): each frame is resized so
its short side is 480 px and its long side a multiple of 64 (854 -> 832), normalised with DINO's mean and std and
encoded on its own into a feature map. The labels of frame t come from the first frame (its ground truth as a hard
one-hot over ids 0..max, downsampled to the feature grid with nearest) and the ``num_context`` preceding frames (with
their propagated soft masks): each location of frame t takes its ``topk`` most similar locations (cosine similarity
of L2-normalised features) among the context locations within ``radius`` feature cells of it (a square window),
weights them by ``softmax(similarity / T)`` and averages their soft labels. The soft masks are enlarged by the
feature stride (bilinear), each object's channel is min-max normalised, the argmax is taken and the label map is
resized to the frame with nearest. The affinity is computed tile by tile against only the key cells within
``radius`` of the tile, so time and memory grow with the window, not with the frame squared.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from .davis import DavisSequence
from .metrics import load_metric

# DINO's color_normalize: ImageNet's mean, and 0.228 (not 0.229) as the red channel's std.
DINO_IMAGE_MEAN = (0.485, 0.456, 0.406)
DINO_IMAGE_STD = (0.228, 0.224, 0.225)
SEED_LABELS = ("one-hot", "area")
UPSAMPLING = ("stride", "frame")
NORMALISATIONS = ("dino", "processor")
VOID_LABEL = 255


@dataclass(frozen=True)
class PropagationProtocol:
    """How frames, seed labels and predicted labels are handled around the propagation step.

    The defaults are DINO's ``eval_video_segmentation.py``, the code behind published DAVIS numbers:

    - ``short_side`` / ``size_multiple``: frames are resized (bilinear, as ``cv2.resize``) so the short side is
      ``short_side`` px and the long side ``short_side * aspect`` floored to a multiple of ``size_multiple`` (480p
      DAVIS: 854 -> 832). DINO floors to 64 for every patch size, so a convolutional encoder's stride (16 or 32)
      tiles the frame as a ViT's patch does. ``short_side=None``: frames are encoded at their own size.
    - ``seed_labels``: ``"one-hot"`` (DINO) is the first frame's labels downsampled to the feature grid with PIL's
      nearest and one-hot encoded over ids 0..max; ``"area"`` averages the one-hot full-resolution mask of the ids
      present over each feature cell (a soft seed, vito_hf's earlier rule, kinder to coarse feature grids).
    - ``upsample``: ``"stride"`` (DINO) enlarges the soft labels by the feature stride (bilinear), takes the argmax
      and resizes the label map to the frame with nearest; ``"frame"`` resizes the soft labels bilinearly straight
      to the frame before the argmax.
    - ``normalisation``: ``"dino"`` uses :data:`DINO_IMAGE_MEAN` / :data:`DINO_IMAGE_STD`; ``"processor"`` the
      image processor's mean and std (ImageNet's without one).

    Void pixels (255) of the first frame are background here: DAVIS's evaluation reads 255 as background and
    refuses a prediction holding it, where DINO's one-hot would make it a 255th object. On a first frame without
    255 (DINO's evaluation assumes none) this is DINO's rule exactly.
    """

    short_side: int | None = 480
    size_multiple: int = 64
    seed_labels: str = "one-hot"
    upsample: str = "stride"
    normalisation: str = "dino"

    def __post_init__(self) -> None:
        if self.short_side is not None and self.short_side < 1 or self.size_multiple < 1:
            raise ValueError(
                f"short_side and size_multiple must be positive, got {self.short_side}, {self.size_multiple}"
            )
        for name, value, choices in (
            ("seed_labels", self.seed_labels, SEED_LABELS),
            ("upsample", self.upsample, UPSAMPLING),
            ("normalisation", self.normalisation, NORMALISATIONS),
        ):
            if value not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")

    def frame_size(self, height: int, width: int) -> tuple[int, int]:
        """``(height, width)`` a frame of this size is encoded at (DINO's ``read_frame`` rule by default)."""
        if self.short_side is None:
            return height, width
        if height > width:
            return int((self.short_side * height / width) // self.size_multiple * self.size_multiple), self.short_side
        return self.short_side, int((self.short_side * width / height) // self.size_multiple * self.size_multiple)

    def mean_std(self, image_processor: object | None) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The normalisation of the encoded frames: DINO's, or the processor's (ImageNet's without one)."""
        if self.normalisation == "dino":
            return DINO_IMAGE_MEAN, DINO_IMAGE_STD
        mean = getattr(image_processor, "image_mean", None) or IMAGENET_DEFAULT_MEAN
        std = getattr(image_processor, "image_std", None) or IMAGENET_DEFAULT_STD
        return tuple(float(m) for m in mean), tuple(float(v) for v in std)


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 frames ``[T, H, W, 3]`` resized to ``size`` bilinearly without antialiasing (``cv2.resize``'s
    ``INTER_LINEAR``, which DINO uses: half-pixel centres, rounded back to uint8)."""
    if tuple(frames.shape[1:3]) == tuple(size):
        return frames
    pixels = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    resized = F.interpolate(pixels, size=size, mode="bilinear", align_corners=False, antialias=False)
    return (resized + 0.5).floor().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


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
    image_mean: Sequence[float] | None = None,
    image_std: Sequence[float] | None = None,
) -> torch.Tensor:
    """Frozen feature maps ``[T, C, h, w]`` (float32, CPU) of uint8 frames ``[T, H, W, 3]`` at their own size.

    Pixels are normalised with ``image_mean`` / ``image_std``, by default the processor's (ImageNet's without one).

    ``hidden_state_index`` picks ``hidden_states[i]`` (for VITO and ResNet: the embeddings, then every stage; -1 =
    conv5_x). By
    default convolutional models give their second-to-last stage (stride 16: VITO's and a ResNet's conv4_x, the
    stage VFS propagates with) and ViT-style models their ``last_hidden_state``, laid out on the patch grid.
    """
    mean = image_mean or getattr(image_processor, "image_mean", None) or IMAGENET_DEFAULT_MEAN
    std = image_std or getattr(image_processor, "image_std", None) or IMAGENET_DEFAULT_STD
    mean, std = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
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


def _nearest_resize(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Integer label map resized with PIL's nearest (the resampling DINO uses for masks both ways)."""
    image = Image.fromarray(labels.astype(np.int32), mode="I")
    return np.asarray(image.resize((width, height), Image.NEAREST)).astype(np.int64)


def initial_soft_labels(
    first_labels: np.ndarray, grid: tuple[int, int], mode: str = "one-hot"
) -> tuple[torch.Tensor, np.ndarray]:
    """The first frame's labels on the feature grid: ``(soft labels [K, h, w], the id of each of the K channels)``.

    ``"one-hot"`` (DINO): nearest-downsampled labels, one channel per id 0..max. ``"area"``: the fraction of each
    cell covered by each id present in the frame. Void (255) is background in both.
    """
    labels = np.where(first_labels == VOID_LABEL, 0, first_labels)
    if mode == "one-hot":
        small = _nearest_resize(labels, *grid)
        ids = np.arange(int(labels.max()) + 1)
        return torch.from_numpy(small[None] == ids[:, None, None]).float(), ids
    if mode == "area":
        ids = np.union1d([0], np.unique(labels))
        one_hot = torch.from_numpy(labels[None] == ids[:, None, None]).float()
        return F.adaptive_avg_pool2d(one_hot, grid), ids
    raise ValueError(f"seed labels must be one of {', '.join(SEED_LABELS)}; got {mode!r}")


def propagate_labels(
    features: torch.Tensor,
    first_labels: np.ndarray,
    *,
    stride: int | None,
    seed_labels: str = "one-hot",
    upsample: str = "stride",
    num_context: int = 7,
    radius: int = 12,
    topk: int = 5,
    temperature: float = 0.1,
    progress: bool = False,
) -> np.ndarray:
    """Label maps ``[T, H, W]`` (int64, frame 0 = ``first_labels``) propagated over ``features [T, C, h, w]``.

    ``stride``: pixels of the encoded frames per feature cell (DINO's patch size), needed by ``upsample="stride"``.
    ``seed_labels`` and ``upsample`` are :class:`PropagationProtocol`'s.
    """
    if features.ndim != 4:
        raise ValueError(f"features must be [T, C, h, w], got shape {tuple(features.shape)}")
    if num_context < 0 or radius < 0 or topk < 1 or temperature <= 0:
        raise ValueError(
            f"need num_context >= 0, radius >= 0, topk >= 1, temperature > 0; got {num_context}, {radius}, {topk}, "
            f"{temperature}"
        )
    if upsample not in UPSAMPLING:
        raise ValueError(f"upsample must be one of {', '.join(UPSAMPLING)}; got {upsample!r}")
    if upsample == "stride" and not stride:
        raise ValueError(
            "upsample='stride' (DINO's) needs the features' stride in pixels; pass stride= or upsample='frame'"
        )
    first_labels = np.asarray(first_labels)
    height, width = first_labels.shape
    first_soft, ids = initial_soft_labels(first_labels, tuple(features.shape[-2:]), seed_labels)
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
        if upsample == "stride":
            enlarged = F.interpolate(soft[None], scale_factor=stride, mode="bilinear", align_corners=False)[0]
            channels = _normalise_channels(enlarged).argmax(0).numpy()
            outputs.append(ids[_nearest_resize(channels, height, width)])
        else:
            enlarged = F.interpolate(soft[None], size=(height, width), mode="bilinear", align_corners=False)[0]
            outputs.append(ids[_normalise_channels(enlarged).argmax(0).numpy()])
    return np.stack(outputs)


def evaluate_sequences(
    sequences: Sequence[DavisSequence],
    encode,
    *,
    protocol: PropagationProtocol | None = None,
    num_context: int = 7,
    radius: int = 12,
    topk: int = 5,
    temperature: float = 0.1,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """J&F of label propagation over DAVIS sequences; ``encode(frames) -> [T, C, h, w]`` gives the features of
    uint8 frames resized by ``protocol`` (DINO's by default; ``encode`` applies its normalisation).

    Every annotated frame goes to the ``davis_jf`` metric, which scores DAVIS's way: all but the first (given) and
    last frames, the objects of the first frame. An object the propagation loses in every scored frame is scored as
    an empty mask (DAVIS's tool would refuse the sequence). Returns the metric's result, with ``protocol`` holding
    the scoring and the propagation choices and ``per_sequence`` the encoded frame size, feature grid and stride,
    and the predicted label maps of each sequence at the frames' own size.
    """
    protocol = protocol or PropagationProtocol()
    metric = load_metric("davis_jf")
    predictions, sequence_ids, geometry = {}, [], {}
    for sequence in tqdm(sequences, desc="sequences", leave=False):
        frames = sequence.read_frames()
        annotations = sequence.read_annotations()
        size = protocol.frame_size(*frames.shape[1:3])
        features = encode(resize_frames(frames, size))
        # Pixels per feature cell: a ViT's patch (DINO's patch_size), a convolutional encoder's stride.
        stride = max(1, round(size[0] / features.shape[-2]))
        geometry[sequence.name] = {
            "encoded_size": list(size), "feature_grid": list(features.shape[-2:]), "stride": stride
        }
        predicted = propagate_labels(
            features, annotations[0], stride=stride, seed_labels=protocol.seed_labels, upsample=protocol.upsample,
            num_context=num_context, radius=radius, topk=topk, temperature=temperature,
        )
        predictions[sequence.name] = predicted
        frame_index = {path.stem: index for index, path in enumerate(sequence.frames)}
        annotated = [
            (frame_index[path.stem], annotation)
            for path, annotation in zip(sequence.annotations, annotations)
            if path.stem in frame_index
        ]
        metric.add_batch(predictions=[predicted[i] for i, _ in annotated], references=[a for _, a in annotated])
        sequence_ids += [sequence.name] * len(annotated)
    result = metric.compute(sequence_ids=sequence_ids, allow_missing_objects=True)
    for name, values in result["per_sequence"].items():
        values.update(geometry[name])
    result["protocol"] = {
        "scoring": result["protocol"],
        "propagation": {**asdict(protocol), "num_context": num_context, "radius": radius, "topk": topk,
                        "temperature": temperature},
    }
    return result, predictions
