"""Evaluation of frozen or fine-tuned encoders (VITO or any transformers vision model) on real data.

Probes on any labelled image set, Trainer fine-tuning, and the suites that `run_evaluation` runs by name
(one module each in :mod:`.suites`; see :mod:`.orchestrator`), each returning a :class:`SuiteResult`.
"""

from .batched_inputs import preprocessing_path, use_image_processor
from .checkpoints import load_checkpoint, random_init_like
from .feature_cache import cached_features, default_cache_dir, model_content_hash
from .features import (
    evaluation_processor,
    extract_features,
    fixed_size_processor,
    images_to_pixel_values,
    pooled_features,
)
from .image_datasets import (
    ImageDataset,
    ImageDatasetError,
    load_image_dataset,
    load_labelled_images,
    prepare_image_dataset,
)
from .knn import knn_accuracy, knn_predict
from .labelled_images import (
    AVAILABLE_DATASETS,
    ImageSplit,
    LabelledImageSet,
    LabelledImagesUnavailableError,
    load_toy_dataset,
    read_idx,
)
from .linear_probe import LinearProbe, LinearProbeResult, fit_linear_probe, linear_probe
from .probe import (
    compare_to_random_init,
    evaluate_frozen_features,
    evaluate_raw_pixels,
    format_comparison,
)
from .results import RESULTS_FORMAT_VERSION, EvaluationError, SuiteResult, card_metric
from .suites.probe import run_probe_suite

__all__ = [
    "AVAILABLE_DATASETS",
    "RESULTS_FORMAT_VERSION",
    "EvaluationError",
    "ImageDataset",
    "ImageDatasetError",
    "ImageSplit",
    "LabelledImageSet",
    "LabelledImagesUnavailableError",
    "LinearProbe",
    "LinearProbeResult",
    "SuiteResult",
    "cached_features",
    "card_metric",
    "compare_to_random_init",
    "default_cache_dir",
    "evaluate_frozen_features",
    "evaluate_raw_pixels",
    "evaluation_processor",
    "extract_features",
    "fit_linear_probe",
    "fixed_size_processor",
    "format_comparison",
    "images_to_pixel_values",
    "knn_accuracy",
    "knn_predict",
    "linear_probe",
    "load_checkpoint",
    "load_labelled_images",
    "load_image_dataset",
    "load_toy_dataset",
    "model_content_hash",
    "pooled_features",
    "prepare_image_dataset",
    "preprocessing_path",
    "random_init_like",
    "read_idx",
    "run_probe_suite",
    "use_image_processor",
]
