# Copyright 2026 The vito_hf authors. Licensed under the Apache License, Version 2.0.
"""Image processor for VITO encoders (PIL backend: torchvision does not install beside the CPU torch wheel)."""

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


__all__ = ["VitoImageProcessor"]
