"""Frozen pooled features of any transformers vision encoder, computed through the checkpoint's own image processor.

Images (uint8 arrays, PIL images or a `datasets` image column) are converted to RGB and prepared in batches as
the image processor saved with the checkpoint prepares them, so a VITO encoder, a ResNet and a DINOv2 are each fed
what they were trained on (the model's config is never asked for an image size). Processors whose steps
`batched_inputs` reproduces (VITO's, and other PIL-backend resize/crop/normalise processors) run as batched tensor
operations with the same output; any other runs itself, image by image. Without a processor, the paper's
evaluation preprocessing is used (short side 256/224 of the crop, center crop, ImageNet mean/std) at 224 px;
a forced ``image_size`` resizes the whole image instead (no crop). The pooled feature is chosen per architecture
as the reference protocols do (:data:`FEATURES_BY_MODEL_TYPE`, :func:`feature_choice`):

| model type | feature | reference protocol |
|---|---|---|
| ``vito`` | ``pooler_output``: the concatenated attention-pooled features | VITO's linear evaluation |
| ``resnet``, ``convnext``, other CNNs | ``pooler_output``: global average of the last stage | DINO ``eval_knn``/``eval_linear`` for ResNet-50 (``fc = Identity``) |
| ``vit``, ``deit`` | ``cls_token``: ``last_hidden_state[:, 0]``, the layer-normed CLS token (their ``pooler_output`` is ``tanh(dense(CLS))``, a head DINO does not use) | DINO ``eval_knn`` (``VisionTransformer.forward``: ``norm(x)[:, 0]``) |
| ``dinov2`` | ``pooler_output`` (= the layer-normed CLS token) | DINOv2 kNN |
| any other | ``pooler_output``; without one the CLS token of ``last_hidden_state`` (tokens) or its spatial mean (maps) | – |
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from ..image_processing_vito import VitoImageProcessor
from .batched_inputs import TensorPreprocessing, processor_forced, tensor_preprocessing, uint8_batch

DEFAULT_IMAGE_SIZE = 224
"""Input size when neither an image processor nor ``image_size`` says otherwise."""

Images = np.ndarray | torch.Tensor | Sequence[Any]

FEATURES_BY_MODEL_TYPE = {"vit": "cls_token", "deit": "cls_token"}
"""``config.model_type`` -> the pooled feature where it is not ``pooler_output`` (see the module docstring)."""
FEATURE_DESCRIPTIONS = {
    "pooler_output": "pooler_output (else the CLS token of last_hidden_state, or its spatial mean)",
    "cls_token": "last_hidden_state[:, 0]: the layer-normed CLS token (DINO's eval_knn), not the tanh pooler",
}


def evaluation_processor(
    image_size: int = DEFAULT_IMAGE_SIZE,
    *,
    image_mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
    image_std: Sequence[float] = IMAGENET_DEFAULT_STD,
) -> VitoImageProcessor:
    """The paper's evaluation preprocessing at ``image_size``: short side ``image_size * 256 / 224``, center crop."""
    return VitoImageProcessor.for_image_size(image_size, image_mean=list(image_mean), image_std=list(image_std))


def fixed_size_processor(
    image_size: int,
    *,
    image_mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
    image_std: Sequence[float] = IMAGENET_DEFAULT_STD,
) -> VitoImageProcessor:
    """The whole image resized (bicubic) to ``image_size`` x ``image_size``, no crop: for small images whose border
    matters (an 8x8 digit) and for suites that need pixels aligned with a map of the input."""
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    return VitoImageProcessor(
        size={"height": image_size, "width": image_size}, do_center_crop=False,
        image_mean=list(image_mean), image_std=list(image_std),
    )


def resolve_processor(
    image_processor: Any | None,
    image_size: int | None = None,
    *,
    image_mean: Sequence[float] | None = None,
    image_std: Sequence[float] | None = None,
) -> Any:
    """The processor that prepares images for a model.

    - ``image_processor`` alone: used as it is (the checkpoint's own preprocessing).
    - ``image_size`` given: the whole image at that size (:func:`fixed_size_processor`), normalised with
      ``image_mean``/``image_std``, else ``image_processor``'s, else ImageNet's.
    - neither: the paper's evaluation preprocessing at 224 px (:func:`evaluation_processor`).
    """
    if image_size is None and image_processor is not None and image_mean is None and image_std is None:
        return image_processor
    mean = image_mean or getattr(image_processor, "image_mean", None) or IMAGENET_DEFAULT_MEAN
    std = image_std or getattr(image_processor, "image_std", None) or IMAGENET_DEFAULT_STD
    if image_size is None:
        return evaluation_processor(DEFAULT_IMAGE_SIZE, image_mean=mean, image_std=std)
    return fixed_size_processor(image_size, image_mean=mean, image_std=std)


def to_rgb_image(image: Any) -> Image.Image:
    """A PIL RGB image from a PIL image or a uint8 array ``[H, W]``, ``[H, W, 1]`` or ``[H, W, 3]``."""
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    array = image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255), got {array.dtype}; convert them with .astype(np.uint8)")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise ValueError(f"an image must have shape [H, W], [H, W, 1] or [H, W, 3], got {tuple(array.shape)}")
    return Image.fromarray(np.ascontiguousarray(array)).convert("RGB")


def images_to_pixel_values(
    images: Images,
    image_size: int | None = None,
    *,
    image_processor: Any | None = None,
    image_mean: Sequence[float] | None = None,
    image_std: Sequence[float] | None = None,
) -> torch.Tensor:
    """Images -> float ``pixel_values`` ``[N, 3, S, S]`` made by :func:`resolve_processor`'s choice of processor."""
    processor = resolve_processor(image_processor, image_size, image_mean=image_mean, image_std=image_std)
    return batch_preparation(processor)(images)


def batch_preparation(processor: Any, device: torch.device | str | None = None) -> Callable[[Any], torch.Tensor]:
    """A function from one batch of images (a uint8 array or tensor, or a sequence of PIL images or arrays) to its
    ``pixel_values``: ``processor``'s preprocessing on batched tensors (on ``device``) when
    :func:`~.batched_inputs.tensor_preprocessing` reproduces it, else the processor itself, image by image (always
    inside :func:`~.batched_inputs.use_image_processor`). Both give the same values; see ``batched_inputs``."""
    plan = None if processor_forced() else tensor_preprocessing(processor)
    if not isinstance(plan, TensorPreprocessing):
        return lambda images: processor(images=[to_rgb_image(image) for image in images], return_tensors="pt")[
            "pixel_values"
        ]

    def batched(images: Any) -> torch.Tensor:
        if isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim in (3, 4):
            return plan(uint8_batch(images).to(device))
        return plan([torch.from_numpy(np.array(to_rgb_image(image))).permute(2, 0, 1).to(device) for image in images])

    return batched


def feature_choice(model: torch.nn.Module) -> str:
    """Which pooled feature :func:`extract_features` takes from ``model``: a key of :data:`FEATURE_DESCRIPTIONS`."""
    return FEATURES_BY_MODEL_TYPE.get(getattr(getattr(model, "config", None), "model_type", None), "pooler_output")


def feature_protocol(model: torch.nn.Module) -> dict[str, str]:
    """What results.json records about the features a suite probed: the choice and what it means."""
    choice = feature_choice(model)
    return {"features": choice, "features_description": FEATURE_DESCRIPTIONS[choice]}


def pooled_features(outputs: Any, model_name: str = "the model", choice: str = "pooler_output") -> torch.Tensor:
    """``[N, D]`` pooled features from a model output: ``pooler_output`` (else CLS token / spatial mean), or the
    CLS token of ``last_hidden_state`` when ``choice == "cls_token"`` (see :func:`feature_choice`)."""
    if choice not in FEATURE_DESCRIPTIONS:
        raise ValueError(f"unknown feature choice {choice!r}; choose from {', '.join(FEATURE_DESCRIPTIONS)}")
    pooled = getattr(outputs, "pooler_output", None) if choice == "pooler_output" else None
    if pooled is None:
        hidden = getattr(outputs, "last_hidden_state", None)
        if hidden is None or hidden.ndim not in (3, 4):
            raise TypeError(
                f"{model_name} returns no pooler_output or last_hidden_state: pass the encoder itself "
                "(a VitoModel, e.g. VitoForPreTraining(...).vito, or AutoModel.from_pretrained(folder))"
            )
        pooled = hidden[:, 0] if hidden.ndim == 3 else hidden.mean(dim=(2, 3))
    return pooled.flatten(1)


def extract_features(
    model: torch.nn.Module,
    images: Images,
    *,
    image_size: int | None = None,
    image_processor: Any | None = None,
    batch_size: int = 256,
    image_column: str = "image",
    progress: str | None = None,
) -> torch.Tensor:
    """Frozen pooled features ``[N, D]`` (float32, CPU) of ``model`` over ``images`` (:func:`feature_choice`).

    ``images`` is a uint8 array/tensor of images, a sequence of PIL images or arrays, or a `datasets.Dataset`
    (its ``image_column`` is decoded batch by batch). Preprocessing is ``image_processor``'s; a forced
    ``image_size`` resizes the whole image to that size instead; with neither, the evaluation preprocessing at
    224 px (see :func:`resolve_processor`).
    Runs in eval mode (batch norm uses its running statistics, so a feature does not depend on its batch) under
    ``torch.inference_mode``, on the model's device and dtype, and restores the model's train/eval mode after.
    ``progress`` is the label of a progress bar (none when ``None``).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    processor = resolve_processor(image_processor, image_size)
    choice = feature_choice(model)
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    was_training = model.training
    # Switching modes walks every module (about 0.8 ms per call for the tiny preset): only where one is training.
    switch = any(module.training for module in model.modules())
    if switch:
        model.eval()
    chunks = []
    try:
        with torch.inference_mode():
            prepare = batch_preparation(processor, device)
            batches = _prepared(_image_batches(images, batch_size, image_column), prepare)
            total = -(-len(images) // batch_size)
            for pixel_values in tqdm(batches, total=total, desc=progress, disable=progress is None, unit="batch"):
                outputs = model(pixel_values=pixel_values.to(device=device, dtype=dtype))
                chunks.append(pooled_features(outputs, type(model).__name__, choice).float().cpu())
    finally:
        if switch:
            model.train(was_training)
    if not chunks:
        raise ValueError("no images given: the image array is empty")
    # Concatenating outside inference mode gives an ordinary tensor that autograd-based probes can use.
    return torch.cat(chunks)


def _image_batches(images: Images, batch_size: int, image_column: str) -> Iterator[Any]:
    """Batches of ``batch_size`` images as given (array slices, lists); a `datasets.Dataset` is decoded one batch at
    a time."""
    if hasattr(images, "iter") and hasattr(images, "column_names"):
        if image_column not in images.column_names:
            raise KeyError(f"the dataset has no column {image_column!r}; its columns are {images.column_names}")
        for batch in images.select_columns([image_column]).iter(batch_size):
            yield batch[image_column]
        return
    for start in range(0, len(images), batch_size):
        yield images[start : start + batch_size]


def _prepared(batches: Iterator[Any], prepare: Callable[[Any], torch.Tensor]) -> Iterator[torch.Tensor]:
    """``pixel_values`` of each batch. The first is prepared here; each next one is decoded and prepared on a
    worker thread while the model runs on this one (PIL, numpy and torch release the GIL), so preparing data hides
    behind the forward pass. A single batch never starts the thread: with nothing to overlap, handing it over
    only adds a second team of torch threads that competes with the forward's (about 10 ms per call for the tiny
    preset on 2 cores)."""
    first = next(batches, None)
    if first is None:
        return
    following = next(batches, None)
    if following is None:
        yield prepare(first)
        return
    remaining = itertools.chain([following], batches)

    def prepare_next() -> torch.Tensor | None:
        batch = next(remaining, None)
        return None if batch is None else prepare(batch)

    pixel_values = prepare(first)
    with ThreadPoolExecutor(max_workers=1) as worker:
        pending = worker.submit(prepare_next)
        yield pixel_values
        while (pixel_values := pending.result()) is not None:
            pending = worker.submit(prepare_next)
            yield pixel_values
