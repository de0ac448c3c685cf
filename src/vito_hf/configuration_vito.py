# Copyright 2026 The vito_hf authors. Licensed under the Apache License, Version 2.0.
"""VITO model configuration.

VITO (Parthasarathy et al., NeurIPS 2023, arXiv 2210.06433) pretrains an image encoder by contrasting
video frames that lie a short time apart. This file imports only transformers and huggingface_hub (which
transformers' own configuration files import the same way), so a saved checkpoint loads with
`trust_remote_code=True` where vito_hf is not installed.

The config holds what the model needs (backbone, pooling, projector, loss temperature); the training recipe
(views per clip, crop size, EMA schedule) lives in the data and training arguments.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from huggingface_hub.dataclasses import strict, validated_field
from huggingface_hub.errors import StrictDataclassError
from transformers import AutoConfig, PreTrainedConfig
from transformers.backbone_utils import BackboneConfigMixin
from transformers.configuration_utils import SubConfigSpec
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.models.auto.modeling_auto import MODEL_FOR_BACKBONE_MAPPING_NAMES
from transformers.utils import logging
from transformers.utils.type_validators import interval

logger = logging.get_logger(__name__)

# Keys of configs saved before the training recipe left the model config: dropped on load, with a warning.
RECIPE_KEYS = ("num_views", "image_size", "ema_momentum_base", "ema_momentum_schedule")
BACKBONE_PADDINGS = ("pytorch", "tf-same")
POOLINGS = ("attention", "average")


class InvalidVitoConfigError(StrictDataclassError, ValueError):
    """A `VitoConfig` field has a value the model cannot use. A `ValueError`, and the `StrictDataclassError` of
    transformers' own config validation, so either `except` catches it."""


def _positive_or_none(value: int | None) -> None:
    if value is not None and not value >= 1:
        raise ValueError(f"must be a positive integer or None, got {value}")


def _known_padding(value: str) -> None:
    if value not in BACKBONE_PADDINGS:
        raise ValueError(f"`backbone_padding` must be one of {BACKBONE_PADDINGS}, got {value!r}")


def _known_pooling(value: str) -> None:
    if value not in POOLINGS:
        raise ValueError(f"`pooling` must be one of {POOLINGS}, got {value!r}")


def _positive_sizes(value: list[list[int]] | None) -> None:
    if value is not None and any(not isinstance(width, int) or width <= 0 for widths in value for width in widths):
        raise ValueError(f"must hold lists of positive integers, got {value}")


@strict
class _VitoConfigFields(BackboneConfigMixin, PreTrainedConfig):
    """The fields of `VitoConfig` and their checks (`@strict`: per field on every assignment, `validate_*` at
    init, on `validate()` and on save). `VitoConfig` is this class with the checks' errors made `ValueError`s."""

    sub_configs_defaults = {
        "backbone_config": SubConfigSpec(
            config_class=AutoConfig,
            model_type="resnet",
            init_kwargs={"out_features": ["stage3", "stage4"]},
        ),
    }

    backbone_config: dict | PreTrainedConfig | None = None
    pooled_stages: list[str] | None = None
    attention_hidden_sizes: list[list[int]] | None = validated_field(_positive_sizes, default=None)
    attention_num_heads: int = interval(min=1)(default=1)
    projector_hidden_size: int = interval(min=1)(default=4096)
    projector_output_size: int = interval(min=1)(default=256)
    use_predictor: bool = False
    predictor_hidden_size: int = interval(min=1)(default=4096)
    temperature: float | int = interval(min=0, exclude_min=True)(default=0.1)
    num_frames: int | None = validated_field(_positive_or_none, default=None)
    classifier_dropout: float | int = interval(min=0, max=1, exclude_max=True)(default=0.0)
    initializer_range: float = interval(min=0.0)(default=0.02)
    backbone_padding: str = validated_field(_known_padding, default="pytorch")
    pooling: str = validated_field(_known_pooling, default="attention")
    _out_features: list[str] | None = None
    _out_indices: list[int] | None = None

    def __post_init__(self, **kwargs):
        out_features, out_indices = kwargs.pop("out_features", None), kwargs.pop("out_indices", None)
        dropped = {key: kwargs.pop(key) for key in RECIPE_KEYS if key in kwargs}
        if dropped:
            logger.warning(
                f"Ignoring {dropped}: the training recipe is no longer part of VitoConfig. Views per clip and the "
                "crop size are data arguments, the EMA schedule is a training argument, and a saved encoder's "
                "input size is in its image processor."
            )
        self._check_backbone_type(self.backbone_config)
        super().__post_init__(**kwargs)
        backbone = self.backbone_config
        if self.pooled_stages is None:
            self.pooled_stages = list(backbone.out_features or backbone.stage_names[-2:])
        self.validate_stages()
        backbone.out_features = list(self.pooled_stages)
        self.stage_names = list(backbone.stage_names)
        if out_features is None and out_indices is None:
            out_features = self._out_features or self.pooled_stages
        self.set_output_features_output_indices(out_features=out_features, out_indices=out_indices)

    @staticmethod
    def _check_backbone_type(backbone_config: dict | PreTrainedConfig | None) -> None:
        if backbone_config is None:
            return
        if isinstance(backbone_config, dict):
            model_type = backbone_config.get("model_type", "resnet")
            known = model_type in CONFIG_MAPPING
        else:
            model_type, known = backbone_config.model_type, True
        if not known or model_type not in MODEL_FOR_BACKBONE_MAPPING_NAMES:
            kind = "a model type transformers does not know" if not known else "not a vision backbone"
            raise ValueError(
                f"`backbone_config` has model_type {model_type!r}, {kind}. Use a type with an AutoBackbone class: "
                f"{sorted(MODEL_FOR_BACKBONE_MAPPING_NAMES)}."
            )

    def validate_stages(self) -> None:
        """Pooled stages exist in the backbone, with one attention MLP each (run at init, on `validate()` and on
        `save_pretrained`)."""
        backbone = self.backbone_config
        if not self.pooled_stages:
            raise ValueError("`pooled_stages` must name at least one backbone stage.")
        unknown = [stage for stage in self.pooled_stages if stage not in backbone.stage_names]
        if unknown:
            raise ValueError(
                f"`pooled_stages` has {unknown}, which the {backbone.model_type} backbone lacks; "
                f"choose from {backbone.stage_names}."
            )
        if self.attention_hidden_sizes is not None:
            if len(self.attention_hidden_sizes) != len(self.pooled_stages):
                raise ValueError(
                    f"`attention_hidden_sizes` gives {len(self.attention_hidden_sizes)} MLPs for "
                    f"{len(self.pooled_stages)} pooled stages; give one list of widths per stage."
                )


@contextmanager
def _as_value_error() -> Iterator[None]:
    """transformers' `@strict` validation reports through huggingface_hub's `StrictDataclass*Error`, which are not
    `ValueError`s; re-raise them as `InvalidVitoConfigError` (both), keeping the original as the cause."""
    try:
        yield
    except InvalidVitoConfigError:
        raise
    except (StrictDataclassError, ValueError, TypeError) as error:
        raise InvalidVitoConfigError(str(error)) from error


class VitoConfig(_VitoConfigFields):
    r"""
    Configuration of a VITO encoder, its pretraining heads and its task heads.

    Args:
        backbone_config (`dict` or `PreTrainedConfig`, *optional*, defaults to ResNet-50 v1.5):
            Config of a transformers vision backbone (any model type with an `AutoBackbone` class: ResNet, ConvNeXt,
            Swin, DINOv2, ...). Its `out_features` are set to `pooled_stages`.
        pooled_stages (`list[str]`, *optional*):
            Backbone stages that get a pooling head, by default the backbone's `out_features`
            (for the default ResNet-50: `["stage3", "stage4"]`, conv4_x and conv5_x). Their pooled vectors are
            concatenated into `pooler_output`.
        out_features (`list[str]`, *optional*):
            Stages that `VitoBackbone` returns to detection/segmentation heads (e.g. all four for UperNet);
            defaults to `pooled_stages`.
        attention_hidden_sizes (`list[list[int]]`, *optional*):
            Hidden widths of the 1x1-conv MLP of each pooled stage. Defaults to `[2C, C]` for a stage of `C`
            channels, as in the public release's conv5_x head (2048 -> 4096 -> 2048 -> 1).
        attention_num_heads (`int`, *optional*, defaults to 1):
            Heads per pooling head; head `h` pools the `h`-th channel group with its own spatial softmax.
        projector_hidden_size (`int`, *optional*, defaults to 4096):
            Hidden width of the two-layer projector MLP (linear, batch norm, ReLU, linear).
        projector_output_size (`int`, *optional*, defaults to 256):
            Dimension of the projections compared by the contrastive loss.
        use_predictor (`bool`, *optional*, defaults to `False`):
            Add a BYOL-style predictor MLP on the online branch (the paper uses none).
        predictor_hidden_size (`int`, *optional*, defaults to 4096):
            Hidden width of the predictor.
        temperature (`float`, *optional*, defaults to 0.1):
            InfoNCE temperature.
        num_frames (`int`, *optional*):
            Frames the video-classification pipeline samples per video; `None` leaves it to the video processor
            (`VitoVideoProcessor.num_frames`). `VitoForVideoClassification` itself averages any number of frames.
        classifier_dropout (`float`, *optional*, defaults to 0.0):
            Dropout before the linear head of the classification models.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialiser of linear heads.
        backbone_padding (`str`, *optional*, defaults to `"pytorch"`):
            `"tf-same"` pads every convolution and max-pool of the backbone as TensorFlow's SAME padding does
            (asymmetric on stride-2 layers: the extra row and column go after), for weights trained that way,
            such as the public VITO release; `"pytorch"` keeps the backbone's own padding.
        pooling (`str`, *optional*, defaults to `"attention"`):
            How each pooled stage is reduced to a vector: `"attention"` is VITO's multi-scale attention pooling;
            `"average"` is global average pooling, the paper's pooling ablation (same stages and feature widths, no
            pooling parameters; `attention_hidden_sizes` and `attention_num_heads` are then unused, except that
            the uniform maps returned as attentions have `attention_num_heads` heads).

    Example:

    ```python
    >>> from vito_hf import VitoConfig, VitoModel

    >>> configuration = VitoConfig()  # the paper's ResNet-50 with two attention-pooled scales
    >>> model = VitoModel(configuration)
    ```"""

    model_type = "vito"

    # `@strict` installs its own `__setattr__`, `validate` and `__init__` on the class it decorates, so the
    # translation of its errors wraps them here, one class down.
    def __init__(self, **kwargs: Any) -> None:
        with _as_value_error():
            super().__init__(**kwargs)

    def __setattr__(self, name: str, value: Any) -> None:
        with _as_value_error():
            super().__setattr__(name, value)

    def validate(self) -> None:
        with _as_value_error():
            super().validate()


__all__ = ["VitoConfig"]
