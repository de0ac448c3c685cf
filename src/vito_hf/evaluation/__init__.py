"""Evaluation of frozen VITO encoders: real labelled image sets, feature extraction, kNN and linear probes."""

from .features import extract_features, images_to_pixel_values
from .knn import knn_accuracy, knn_predict
from .labelled_images import (
    AVAILABLE_DATASETS,
    ImageSplit,
    LabelledImageSet,
    LabelledImagesUnavailableError,
    load_labelled_images,
    read_idx,
)
from .linear_probe import LinearProbe, LinearProbeResult, fit_linear_probe, linear_probe
from .probe import (
    compare_to_random_init,
    evaluate_frozen_features,
    evaluate_raw_pixels,
    format_comparison,
    random_init_like,
)

__all__ = [
    "AVAILABLE_DATASETS",
    "ImageSplit",
    "LabelledImageSet",
    "LabelledImagesUnavailableError",
    "LinearProbe",
    "LinearProbeResult",
    "compare_to_random_init",
    "evaluate_frozen_features",
    "evaluate_raw_pixels",
    "extract_features",
    "fit_linear_probe",
    "format_comparison",
    "images_to_pixel_values",
    "knn_accuracy",
    "knn_predict",
    "linear_probe",
    "load_labelled_images",
    "random_init_like",
    "read_idx",
]
