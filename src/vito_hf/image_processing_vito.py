# Copyright 2026 The vito_hf authors. Licensed under the Apache License, Version 2.0.
"""Image processor for VITO encoders (PIL backend: torchvision does not install beside the CPU torch wheel)."""

from typing import Any

from transformers.image_processing_backends import PilBackend
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PILImageResampling


class VitoImageProcessor(PilBackend):
    """Evaluation preprocessing of the paper: resize the short side to 256, center-crop 224², ImageNet mean/std.

    Training views are made by `vito_hf.data` augmentations, which use the same normalisation.
    """

    model_input_names = ["pixel_values"]
    resample = PILImageResampling.BICUBIC
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    size = {"shortest_edge": 256}
    default_to_square = False
    crop_size = {"height": 224, "width": 224}
    do_resize = True
    do_center_crop = True
    do_rescale = True
    do_normalize = True

    @classmethod
    def for_image_size(cls, image_size: int, **kwargs: Any) -> "VitoImageProcessor":
        """The paper's evaluation preprocessing at `image_size`: short side `image_size * 256 / 224`, center crop
        `image_size`²; `kwargs` set other attributes (`image_mean`, `image_std`)."""
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        return cls(
            size={"shortest_edge": round(image_size * 256 / 224)},
            crop_size={"height": image_size, "width": image_size},
            **kwargs,
        )

    @staticmethod
    def image_size_of(image_processor: object | None, default: int = 224) -> int:
        """The square input size a (saved, any model's) image processor feeds: its crop size when it crops, else
        its resize size, else `default`.

        Sizes come as plain dicts (older processors, JSON) or as transformers 5's `SizeDict` (attributes, not a
        `dict`); both are read."""
        crops = getattr(image_processor, "do_center_crop", True) is not False
        for attribute in ("crop_size", "size") if crops else ("size",):
            size = getattr(image_processor, attribute, None)
            if isinstance(size, int):
                return size
            for key in ("height", "shortest_edge", "width"):
                value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
                if value:
                    return int(value)
        return default


__all__ = ["VitoImageProcessor"]
