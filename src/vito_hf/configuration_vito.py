# Copyright 2026 The vito_hf authors. Licensed under the Apache License, Version 2.0.
"""VITO model configuration.

VITO (Parthasarathy et al., NeurIPS 2023, arXiv 2210.06433) pretrains an image encoder by contrasting
video frames that lie a short time apart. This file imports only transformers, so a saved checkpoint
loads with `trust_remote_code=True` where vito_hf is not installed.
"""

from transformers import AutoConfig, PreTrainedConfig
from transformers.backbone_utils import BackboneConfigMixin
from transformers.configuration_utils import SubConfigSpec

EMA_SCHEDULES = ("cosine", "constant")
BACKBONE_PADDINGS = ("pytorch", "tf-same")


class VitoConfig(BackboneConfigMixin, PreTrainedConfig):
    r"""
    Configuration of a VITO encoder, its pretraining heads and its task heads.

    Args:
        backbone_config (`dict` or `PreTrainedConfig`, *optional*, defaults to ResNet-50 v1.5):
            Config of a transformers backbone (ResNet, ConvNeXt, Swin, DINOv2, ...). Its `out_features`
            are set to `pooled_stages`.
        pooled_stages (`list[str]`, *optional*):
            Backbone stages that get an attention-pooling head, by default the backbone's `out_features`
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
        num_views (`int`, *optional*, defaults to 3):
            Frames (views) drawn per clip.
        ema_momentum_base (`float`, *optional*, defaults to 0.996):
            Starting momentum of the target network's exponential moving average.
        ema_momentum_schedule (`str`, *optional*, defaults to `"cosine"`):
            `"cosine"` raises the momentum from `ema_momentum_base` to 1 over training; `"constant"` keeps it.
        image_size (`int`, *optional*, defaults to 224):
            Side of the square training crops.
        classifier_dropout (`float`, *optional*, defaults to 0.0):
            Dropout before the linear head of the classification models.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialiser of linear heads.
        backbone_padding (`str`, *optional*, defaults to `"pytorch"`):
            `"tf-same"` pads every convolution and max-pool of the backbone as TensorFlow's SAME padding does
            (asymmetric on stride-2 layers: the extra row and column go after), for weights trained that way,
            such as the public VITO release; `"pytorch"` keeps the backbone's own padding.

    Example:

    ```python
    >>> from vito_hf import VitoConfig, VitoModel

    >>> configuration = VitoConfig()  # the paper's ResNet-50 with two attention-pooled scales
    >>> model = VitoModel(configuration)
    ```"""

    model_type = "vito"
    sub_configs_defaults = {
        "backbone_config": SubConfigSpec(
            config_class=AutoConfig,
            model_type="resnet",
            init_kwargs={"out_features": ["stage3", "stage4"]},
        ),
    }

    backbone_config: dict | PreTrainedConfig | None = None
    pooled_stages: list[str] | None = None
    attention_hidden_sizes: list[list[int]] | None = None
    attention_num_heads: int = 1
    projector_hidden_size: int = 4096
    projector_output_size: int = 256
    use_predictor: bool = False
    predictor_hidden_size: int = 4096
    temperature: float = 0.1
    num_views: int = 3
    ema_momentum_base: float = 0.996
    ema_momentum_schedule: str = "cosine"
    image_size: int = 224
    classifier_dropout: float = 0.0
    initializer_range: float = 0.02
    backbone_padding: str = "pytorch"
    _out_features: list[str] | None = None
    _out_indices: list[int] | None = None

    def __post_init__(self, **kwargs):
        out_features, out_indices = kwargs.pop("out_features", None), kwargs.pop("out_indices", None)
        super().__post_init__(**kwargs)
        backbone = self.backbone_config
        if self.pooled_stages is None:
            self.pooled_stages = list(backbone.out_features or backbone.stage_names[-2:])
        self.pooled_stages = list(self.pooled_stages)
        if not self.pooled_stages:
            raise ValueError("`pooled_stages` must name at least one backbone stage.")
        unknown = [stage for stage in self.pooled_stages if stage not in backbone.stage_names]
        if unknown:
            raise ValueError(
                f"`pooled_stages` has {unknown}, which the {backbone.model_type} backbone lacks; "
                f"choose from {backbone.stage_names}."
            )
        backbone.out_features = self.pooled_stages
        self.stage_names = list(backbone.stage_names)
        if out_features is None and out_indices is None:
            out_features = self._out_features or self.pooled_stages
        self.set_output_features_output_indices(out_features=out_features, out_indices=out_indices)
        if self.attention_hidden_sizes is not None:
            self.attention_hidden_sizes = [list(widths) for widths in self.attention_hidden_sizes]
            if len(self.attention_hidden_sizes) != len(self.pooled_stages):
                raise ValueError(
                    f"`attention_hidden_sizes` gives {len(self.attention_hidden_sizes)} MLPs for "
                    f"{len(self.pooled_stages)} pooled stages; give one list of widths per stage."
                )
            if any(width <= 0 for widths in self.attention_hidden_sizes for width in widths):
                raise ValueError(f"`attention_hidden_sizes` must be positive, got {self.attention_hidden_sizes}.")
        for name in ("attention_num_heads", "projector_hidden_size", "projector_output_size", "predictor_hidden_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {getattr(self, name)}.")
        if self.image_size <= 0:
            raise ValueError(f"`image_size` must be positive, got {self.image_size}.")
        if not self.temperature > 0:
            raise ValueError(f"`temperature` must be > 0, got {self.temperature}.")
        if self.num_views < 2:
            raise ValueError(f"`num_views` must be at least 2 (the loss contrasts pairs of views), got {self.num_views}.")
        if not 0.0 <= self.ema_momentum_base <= 1.0:
            raise ValueError(f"`ema_momentum_base` must lie in [0, 1], got {self.ema_momentum_base}.")
        if self.ema_momentum_schedule not in EMA_SCHEDULES:
            raise ValueError(
                f"`ema_momentum_schedule` must be one of {EMA_SCHEDULES}, got {self.ema_momentum_schedule!r}."
            )
        if self.backbone_padding not in BACKBONE_PADDINGS:
            raise ValueError(f"`backbone_padding` must be one of {BACKBONE_PADDINGS}, got {self.backbone_padding!r}.")
        if not 0.0 <= self.classifier_dropout < 1.0:
            raise ValueError(f"`classifier_dropout` must lie in [0, 1), got {self.classifier_dropout}.")


__all__ = ["VitoConfig"]
