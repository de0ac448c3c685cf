# Copyright 2026 The vito_hf authors. Licensed under the Apache License, Version 2.0.
"""PyTorch VITO models.

VITO (Parthasarathy et al., "Self-supervised video pretraining yields robust and more human-aligned visual
representations", NeurIPS 2023) trains an image encoder by contrasting frames of the same clip drawn a
short time apart, against the frames of other clips. The encoder is a standard backbone whose global
average pooling is replaced by multi-scale attention pooling. This file imports only torch, transformers and its
flat sibling `configuration_vito`, so saved checkpoints load with `trust_remote_code=True`.
"""

import copy
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from huggingface_hub import ModelCard
from torch import nn
from transformers import initialization as init
from transformers.backbone_utils import BackboneMixin, filter_output_hidden_states, load_backbone
from transformers.modeling_outputs import BackboneOutput, BaseModelOutputWithPooling, ImageClassifierOutput
from transformers.modeling_utils import PreTrainedModel
from transformers.models.auto.modeling_auto import MODEL_FOR_BACKBONE_MAPPING
from transformers.utils import IMAGE_PROCESSOR_NAME, VIDEO_PROCESSOR_NAME, ModelOutput, auto_docstring, logging
from transformers.utils.generic import can_return_tuple

from .configuration_vito import VitoConfig
from .image_processing_vito import VitoImageProcessor
from .video_processing_vito import VitoVideoProcessor

logger = logging.get_logger(__name__)


@dataclass
@auto_docstring(
    custom_intro="""
    Output of [`VitoModel`]: the backbone's feature maps and the attention-pooled features.
    """
)
class VitoModelOutput(BaseModelOutputWithPooling):
    r"""
    last_hidden_state (`torch.FloatTensor` of shape `(batch_size, channels, height, width)`):
        Feature map of the last pooled stage.
    pooler_output (`torch.FloatTensor` of shape `(batch_size, sum(channels))`):
        Pooled features of all pooled stages, concatenated (3,072-d for ResNet-50).
    hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
        The backbone's hidden states as its own model returns them: the embeddings and the output of every stage
        (ResNet, ConvNeXt: `(batch_size, channels, height, width)`; Swin, DINOv2: tokens).
    attentions (`tuple(torch.FloatTensor)`, *optional*, returned when `output_attentions=True`):
        Spatial attention maps of the pooling head of each pooled stage, `(batch_size, num_heads, height, width)`;
        each sums to 1 over the positions (uniform under `config.pooling="average"`).
    pooled_features (`tuple(torch.FloatTensor)`):
        Pooled features of each pooled stage, `(batch_size, channels)` each.
    """

    pooled_features: tuple[torch.FloatTensor, ...] | None = None


@dataclass
@auto_docstring(
    custom_intro="""
    Output of [`VitoForPreTraining`]: the contrastive loss and the projections it compares.
    """
)
class VitoForPreTrainingOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`):
        Multi-view InfoNCE loss, summed over ordered pairs of distinct views, averaged over the local clips.
    online_projections (`torch.FloatTensor` of shape `(batch_size, num_views, projector_output_size)`):
        Online projections (after the predictor, if any), not normalised.
    target_projections (`torch.FloatTensor` of shape `(batch_size, num_views, projector_output_size)`):
        Projections of the EMA target network (no gradient), not normalised.
    attention_entropy (`torch.FloatTensor` of shape `()`):
        Mean entropy (nats) of the online attention maps, detached: a collapse monitor (log of the number of
        positions means uniform pooling, 0 means one location).
    """

    loss: torch.FloatTensor | None = None
    online_projections: torch.FloatTensor | None = None
    target_projections: torch.FloatTensor | None = None
    attention_entropy: torch.FloatTensor | None = None


def backbone_feature_maps(backbone: nn.Module, pixel_values: torch.Tensor, **kwargs) -> BackboneOutput:
    """Run a transformers backbone and return its feature maps as `(batch, channels, height, width)`.

    ViT-style backbones that return tokens `(batch, tokens, channels)` are reshaped to the patch grid; leading
    class/register tokens are dropped. Hidden states and attentions are passed on as the backbone returns them.
    """
    outputs = backbone(pixel_values, return_dict=True, **{key: value for key, value in kwargs.items() if value})
    patch_size = getattr(backbone.config, "patch_size", None)
    feature_maps = []
    for features in outputs.feature_maps:
        if features.dim() == 3:
            if patch_size is None:
                raise ValueError(f"{type(backbone).__name__} returns tokens but its config has no `patch_size`.")
            height, width = pixel_values.shape[-2] // patch_size, pixel_values.shape[-1] // patch_size
            features = features[:, -height * width :].transpose(1, 2)
            features = features.reshape(features.shape[0], features.shape[1], height, width)
        feature_maps.append(features)
    return BackboneOutput(
        feature_maps=tuple(feature_maps), hidden_states=outputs.hidden_states, attentions=outputs.attentions
    )


def _as_pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _pad_like_tensorflow(layer: nn.Module, inputs: tuple) -> tuple:
    """Forward pre-hook of `use_tf_same_padding`: pad the input as TensorFlow's SAME does for this layer
    (output size ceil(input / stride); an odd total puts the extra pixel after), zeros for a convolution and
    -inf for a max-pool (padding never wins the max)."""
    hidden_states = inputs[0]
    padding = []
    for dim in (-1, -2):  # F.pad takes the last dimension first
        size = hidden_states.shape[dim]
        kernel, stride, dilation = (_as_pair(getattr(layer, name))[dim] for name in ("kernel_size", "stride", "dilation"))
        total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
        padding += [total // 2, total - total // 2]
    value = float("-inf") if isinstance(layer, nn.MaxPool2d) else 0.0
    return (F.pad(hidden_states, padding, value=value), *inputs[1:])


def use_tf_same_padding(module: nn.Module) -> None:
    """Make every convolution and max-pool in `module` pad as TensorFlow's SAME padding does (`backbone_padding=
    "tf-same"`): stride-1 layers of odd kernels get the equal symmetric padding, the others pad in a pre-hook.
    Parameters and state-dict keys are unchanged."""
    for layer in module.modules():
        if not isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            continue
        spans = [(k - 1) * d for k, d in zip(_as_pair(layer.kernel_size), _as_pair(layer.dilation))]
        if _as_pair(layer.stride) == (1, 1) and all(span % 2 == 0 for span in spans):
            layer.padding = tuple(span // 2 for span in spans)
        else:
            layer.padding = (0, 0)
            layer.register_forward_pre_hook(_pad_like_tensorflow)


class VitoAttentionLogits(nn.Conv2d):
    """The last 1x1 conv of an attention-pooling MLP (one logit per location and head), a type of its own so
    it gets a small initialisation: pooling starts close to global average pooling."""


class VitoAttentivePooling(nn.Module):
    """Attention pooling of one scale: a 1x1-conv MLP gives one logit per location and head, a softmax over
    the positions turns it into a mask, and the pooled vector is the mask-weighted sum of the features.

    Head `h` pools the `h`-th group of channels, so the pooled vector keeps the feature width. Each image's
    mask depends on that image alone.
    """

    def __init__(self, in_channels: int, hidden_sizes: list[int], num_heads: int):
        super().__init__()
        layers = []
        width = in_channels
        for hidden_size in hidden_sizes:
            layers += [nn.Conv2d(width, hidden_size, kernel_size=1), nn.ReLU()]
            width = hidden_size
        layers.append(VitoAttentionLogits(width, num_heads, kernel_size=1, bias=False))
        self.mlp = nn.Sequential(*layers)
        self.num_heads = num_heads

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch_size, channels, height, width = features.shape
        logits = self.mlp(features).flatten(2)
        # The softmax runs in float32 so bf16 autocast cannot saturate the mask.
        attention = logits.float().softmax(dim=-1).to(features.dtype)
        values = features.flatten(2).reshape(batch_size, self.num_heads, channels // self.num_heads, height * width)
        pooled = torch.einsum("bhn,bhcn->bhc", attention, values).reshape(batch_size, channels)
        return pooled, attention.reshape(batch_size, self.num_heads, height, width)


class VitoAveragePooling(nn.Module):
    """Global average pooling of one scale (`config.pooling="average"`, the paper's pooling ablation), with the
    forward contract of `VitoAttentivePooling`: the mask it returns is the uniform one, so outputs keep their
    shapes and the attention-entropy monitor reads log(height * width)."""

    def __init__(self, num_heads: int):
        super().__init__()
        self.num_heads = num_heads

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch_size, _, height, width = features.shape
        attention = features.new_full((batch_size, self.num_heads, height, width), 1.0 / (height * width))
        return features.mean(dim=(-2, -1)), attention


class VitoMLP(nn.Module):
    """Projector / predictor: linear, batch norm, ReLU, linear (the BYOL head shape)."""

    def __init__(self, in_features: int, hidden_size: int, out_features: int):
        super().__init__()
        self.dense_in = nn.Linear(in_features, hidden_size)
        self.batch_norm = nn.BatchNorm1d(hidden_size)
        self.activation = nn.ReLU()
        self.dense_out = nn.Linear(hidden_size, out_features)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dense_out(self.activation(self.batch_norm(self.dense_in(hidden_states))))


def gather_across_processes(tensor: torch.Tensor) -> tuple[torch.Tensor, int]:
    """All-gather `tensor` along dim 0 over every process (no gradient) and return it with this process's
    row offset. Batches may differ in size between processes (e.g. a short last batch)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return tensor, 0
    world_size = torch.distributed.get_world_size()
    if world_size == 1:
        return tensor, 0
    sizes = torch.tensor([tensor.shape[0]], device=tensor.device)
    all_sizes = [torch.zeros_like(sizes) for _ in range(world_size)]
    torch.distributed.all_gather(all_sizes, sizes)
    all_sizes = [int(size) for size in all_sizes]
    padded = tensor.new_zeros((max(all_sizes), *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    gathered = [torch.empty_like(padded) for _ in range(world_size)]
    torch.distributed.all_gather(gathered, padded.contiguous())
    rank = torch.distributed.get_rank()
    return torch.cat([part[:size] for part, size in zip(gathered, all_sizes)]), sum(all_sizes[:rank])


def multi_view_info_nce(online: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    """VITO's loss: InfoNCE of online view i against target view j != i of the same clip, with the target
    view-j projections of all other clips (across all processes) as negatives; summed over the ordered
    view pairs, averaged over this process's clips.

    Under data-parallel gradient averaging with equal per-process batches this equals the single-process
    loss on the global batch. Computed in float32.
    """
    # Autocast off: under bf16 it would run the similarity einsum in bf16 (a 1e-3 error in the loss).
    with torch.autocast(device_type=online.device.type, enabled=False):
        online = F.normalize(online.float(), dim=-1)
        target = F.normalize(target.detach().float(), dim=-1)
        all_targets, offset = gather_across_processes(target)
        batch_size, num_views, _ = online.shape
        # logits[i, j, b, n]: online view i of clip b against target view j of clip n.
        logits = torch.einsum("bid,njd->ijbn", online, all_targets) / temperature
        labels = torch.arange(offset, offset + batch_size, device=online.device)
        pair_losses = F.cross_entropy(
            logits.flatten(0, 2), labels.repeat(num_views * num_views), reduction="none"
        ).view(num_views, num_views, batch_size)
    # A mask multiply rather than boolean indexing: no host sync on CUDA, and CUDA graphs can capture it.
    off_diagonal = ~torch.eye(num_views, dtype=torch.bool, device=online.device)
    return torch.where(off_diagonal, pair_losses.mean(dim=-1), 0.0).sum()


# Written into every saved config, so any Auto class loads any saved VITO folder with `trust_remote_code=True`
# (transformers itself only records the class that was saved).
AUTO_MAP = {
    "AutoConfig": "configuration_vito.VitoConfig",
    "AutoModel": "modeling_vito.VitoModel",
    "AutoModelForPreTraining": "modeling_vito.VitoForPreTraining",
    "AutoModelForImageClassification": "modeling_vito.VitoForImageClassification",
    "AutoModelForVideoClassification": "modeling_vito.VitoForVideoClassification",
    "AutoBackbone": "modeling_vito.VitoBackbone",
}
MODEL_TAGS = ("vito", "self-supervised", "video-pretraining")
"""Hub tags of every VITO model; attention-pooled ones add "attention-pooling"."""
PIPELINE_TAGS = {
    "VitoForImageClassification": "image-classification",
    "VitoForVideoClassification": "video-classification",
}
"""The Hub pipeline tag by class; every other VITO class extracts image features."""
HUB_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


def pipeline_tag_of(architecture: str) -> str:
    """The Hub pipeline tag of a VITO class name (as `config.architectures` records it)."""
    return PIPELINE_TAGS.get(architecture, "image-feature-extraction")


def hub_repo_id_of(name_or_path: str | os.PathLike | None) -> str | None:
    """`name_or_path` if it names a Hub repo (`owner/name`, not a local path), else None. (The package's
    `vito_hf.hub_access.is_hub_repo_id` asks the same; this file must not import the package.)"""
    name = str(name_or_path or "")
    return name if HUB_REPO_ID.fullmatch(name) and not os.path.exists(name) else None


@auto_docstring
class VitoPreTrainedModel(PreTrainedModel):
    config: VitoConfig
    base_model_prefix = "vito"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _keys_to_ignore_on_load_unexpected = [r"^projector\.", r"^predictor\.", r"^target\.", r"^classifier\."]
    # What `save_pretrained` writes beside the weights: attribute -> (class, file). A processor loaded with the
    # weights, or set by the code that trained them, is saved as it is; without one, the class defaults (the
    # paper's evaluation preprocessing) are saved where the folder has no such file, so `AutoImageProcessor` and
    # the pipelines work on every saved folder.
    _processors = {"image_processor": (VitoImageProcessor, IMAGE_PROCESSOR_NAME)}

    def post_init(self):
        super().post_init()
        # Per instance: `add_model_tags` and `push_to_hub(tags=...)` extend this list in place.
        self.model_tags = list(MODEL_TAGS) + (["attention-pooling"] if self.config.pooling == "attention" else [])
        for name in self._processors:
            setattr(self, name, None)

    # VITO's own layers use no dot-product attention and are too small to checkpoint: VITO offers exactly what its
    # backbone offers (Swin and DINOv2: "sdpa" and activation checkpointing; ResNet: neither), and the backbone,
    # built from the sub-config, applies the attention implementation requested for the whole model.
    def _backbone_supports(self, capability: str) -> bool:
        return getattr(MODEL_FOR_BACKBONE_MAPPING[type(self.config.backbone_config)], capability, False)

    @property
    def supports_gradient_checkpointing(self) -> bool:
        return self._backbone_supports("supports_gradient_checkpointing")

    @property
    def _supports_sdpa(self) -> bool:
        return self._backbone_supports("_supports_sdpa")

    @property
    def _supports_flash_attn(self) -> bool:
        return self._backbone_supports("_supports_flash_attn")

    @property
    def _supports_flex_attn(self) -> bool:
        return self._backbone_supports("_supports_flex_attn")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """As `PreTrainedModel.from_pretrained`; the processors saved with the weights come along, so saving the
        model again keeps them."""
        loaded = super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        hub_kwargs = {
            key: kwargs[key]
            for key in ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder")
            if key in kwargs
        }
        for name, (processor_class, _) in model._processors.items():
            try:
                setattr(model, name, processor_class.from_pretrained(pretrained_model_name_or_path, **hub_kwargs))
            except OSError:  # none saved with these weights
                pass
        return loaded

    def save_pretrained(self, save_directory, is_main_process: bool = True, *args, **kwargs):
        """As `PreTrainedModel.save_pretrained`, with every VITO Auto class in the saved `auto_map` (the in-memory
        config is left as it was) and the model's processors beside the weights (see `_processors`)."""
        had_auto_map = "auto_map" in vars(self.config)
        auto_map = copy.deepcopy(getattr(self.config, "auto_map", None))
        self.config.auto_map = dict(AUTO_MAP)
        try:
            result = super().save_pretrained(save_directory, is_main_process, *args, **kwargs)
        finally:
            if had_auto_map:
                self.config.auto_map = auto_map
            else:
                del self.config.auto_map
        if is_main_process:
            self._save_processors(save_directory)
        return result

    def _default_processor(self, name: str):
        return self._processors[name][0]()

    def _save_processors(self, folder: str | os.PathLike) -> None:
        for name, (processor_class, file_name) in self._processors.items():
            processor = getattr(self, name, None)
            if processor is None and (Path(folder) / file_name).is_file():
                continue  # saved there by whoever knew the input size (a training script, a converter)
            processor = processor if processor is not None else self._default_processor(name)
            if type(processor)._auto_class is None:  # so the saved file names its remote code in `auto_map`
                type(processor).register_for_auto_class()
            processor.save_pretrained(folder)

    def _upload_modified_files(self, working_dir, repo_id, *args, **kwargs):
        """The last step of `push_to_hub` and `save_pretrained(push_to_hub=True)`, after transformers wrote its card
        (tags from `model_tags`): the processors are saved and the card gets the pipeline tag and, for weights
        loaded from another Hub repo, `base_model`, where it has none."""
        self._save_processors(working_dir)
        card_path = Path(working_dir) / "README.md"
        if card_path.is_file():
            card = ModelCard.load(card_path)
            architecture = (self.config.architectures or [type(self).__name__])[0]
            card.data.pipeline_tag = card.data.pipeline_tag or pipeline_tag_of(architecture)
            base_model = hub_repo_id_of(self.config._name_or_path)
            if base_model is not None and base_model != repo_id and not card.data.base_model:
                card.data.base_model = base_model
            card.save(card_path)
        return super()._upload_modified_files(working_dir, repo_id, *args, **kwargs)

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, VitoAttentionLogits):
            init.normal_(module.weight, std=self.config.initializer_range)
        elif isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm1d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            if module.num_batches_tracked is not None:
                init.zeros_(module.num_batches_tracked)


@auto_docstring(
    custom_intro="""
    A VITO encoder: a transformers backbone (ResNet, ConvNeXt, Swin, DINOv2, ...) with multi-scale attention pooling
    (or, for the paper's ablation, `config.pooling="average"`, global average pooling of the same stages).
    """
)
class VitoModel(VitoPreTrainedModel):
    def __init__(self, config: VitoConfig):
        super().__init__(config)
        self.backbone = load_backbone(config)
        if config.backbone_padding == "tf-same":
            use_tf_same_padding(self.backbone)
        channels = self.backbone.channels
        if config.pooling == "average":
            self.pooling = nn.ModuleList(VitoAveragePooling(config.attention_num_heads) for _ in channels)
        else:
            hidden_sizes = config.attention_hidden_sizes or [[2 * width, width] for width in channels]
            for stage, width in zip(config.pooled_stages, channels):
                if width % config.attention_num_heads:
                    raise ValueError(
                        f"`attention_num_heads`={config.attention_num_heads} must divide the {width} channels of "
                        f"{stage}."
                    )
            self.pooling = nn.ModuleList(
                VitoAttentivePooling(width, widths, config.attention_num_heads)
                for width, widths in zip(channels, hidden_sizes)
            )
        self.num_features = sum(channels)
        self.post_init()

    @can_return_tuple
    @auto_docstring
    def forward(
        self,
        pixel_values: torch.Tensor,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> VitoModelOutput:
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        backbone_outputs = backbone_feature_maps(self.backbone, pixel_values, output_hidden_states=output_hidden_states)
        feature_maps = backbone_outputs.feature_maps
        pooled_features, attentions = zip(*(pool(features) for pool, features in zip(self.pooling, feature_maps)))
        return VitoModelOutput(
            last_hidden_state=feature_maps[-1],
            pooler_output=torch.cat(pooled_features, dim=-1),
            hidden_states=backbone_outputs.hidden_states if output_hidden_states else None,
            attentions=attentions if output_attentions else None,
            pooled_features=pooled_features,
        )


@auto_docstring(
    custom_intro="""
    VITO pretraining: online encoder + projector (+ optional predictor) and their EMA target.

    The target is a frozen submodule, so every checkpoint carries it and resuming restores it exactly;
    `VitoModel.from_pretrained` on such a checkpoint loads the online encoder, and loading this class from an encoder
    checkpoint starts the target as a copy of the loaded encoder. The target moves only when `update_target` is
    called, once per optimizer step (`vito_hf.training.VitoTrainer` does it), never inside `forward`: training that
    never calls it logs a warning at the second optimizer step.
    """
)
class VitoForPreTraining(VitoPreTrainedModel):
    # A checkpoint without the target (an encoder, a classifier) gets it copied from the online network on load.
    _keys_to_ignore_on_load_missing = [r"^target\."]

    def __init__(self, config: VitoConfig):
        super().__init__(config)
        self.vito = VitoModel(config)
        self.projector = VitoMLP(self.vito.num_features, config.projector_hidden_size, config.projector_output_size)
        self.predictor = (
            VitoMLP(config.projector_output_size, config.predictor_hidden_size, config.projector_output_size)
            if config.use_predictor
            else None
        )
        self.target = nn.ModuleDict(
            {
                "vito": VitoModel(config),
                "projector": VitoMLP(
                    self.vito.num_features, config.projector_hidden_size, config.projector_output_size
                ),
            }
        )
        self.target.requires_grad_(False)
        # Whether `update_target` ever ran, and the online weights seen by the first training forward (False
        # once the stale-target warning was given): see `_warn_if_target_never_moves`.
        self._target_updated = False
        self._online_snapshot = None
        self._ema_lists = None  # see `_ema_tensor_lists`
        self.post_init()
        self.reset_target()

    def tie_weights(self, missing_keys: set[str] | None = None, recompute_mapping: bool = True):
        """`from_pretrained` calls this once the checkpoint is loaded, with the keys it lacked: a checkpoint without
        the target (an encoder or classifier folder) gets the target copied from the loaded online network."""
        super().tie_weights(missing_keys=missing_keys, recompute_mapping=recompute_mapping)
        self._ema_lists = None
        if missing_keys and any(key.startswith("target.") for key in missing_keys):
            self.reset_target()

    def _online_and_target_pairs(self) -> tuple[list[torch.Tensor], ...]:
        """Online and target parameters and buffers, aligned, from one walk over both module trees in
        lockstep (the target is built from the same config): cheaper than four `parameters()`/`buffers()`
        walks, which matters because the EMA update runs every step."""
        online_params, target_params, online_buffers, target_buffers = [], [], [], []
        for online, target in ((self.vito, self.target["vito"]), (self.projector, self.target["projector"])):
            for online_module, target_module in zip(online.modules(), target.modules()):
                online_params += [p for p in online_module._parameters.values() if p is not None]
                target_params += [p for p in target_module._parameters.values() if p is not None]
                online_buffers += [b for b in online_module._buffers.values() if b is not None]
                target_buffers += [b for b in target_module._buffers.values() if b is not None]
        return online_params, target_params, online_buffers, target_buffers

    @torch.no_grad()
    def reset_target(self) -> None:
        """Copy the online encoder and projector into the target (the start of training)."""
        online_params, target_params, online_buffers, target_buffers = self._online_and_target_pairs()
        torch._foreach_copy_(target_params + target_buffers, online_params + online_buffers)

    def _ema_tensor_lists(self) -> tuple[list[torch.Tensor], ...]:
        """(targets, onlines) to interpolate (parameters and float buffers) and (targets, onlines) to copy
        (integer buffers), built on the first `update_target` and kept: the update runs every step, and a
        walk over both module trees costs more host time than the fused kernels it feeds.

        Why the cache is forgotten in `_apply`, `load_state_dict` and `tie_weights` rather than rebuilt lazily
        when a tensor's identity changes: `to()`/`half()` put new buffer tensors into the modules' dicts, and
        `load_state_dict(assign=True)` and `from_pretrained` new parameters, without any hook firing; telling
        that this happened takes the very walk over both trees that the cache exists to avoid. Those three
        methods are where PyTorch and transformers replace tensors, so forgetting there is the cheap form."""
        if self._ema_lists is None:
            online_params, target_params, online_buffers, target_buffers = self._online_and_target_pairs()
            floats = [(t, o) for t, o in zip(target_buffers, online_buffers) if t.is_floating_point()]
            ints = [(t, o) for t, o in zip(target_buffers, online_buffers) if not t.is_floating_point()]
            self._ema_lists = (
                target_params + [t for t, _ in floats],
                online_params + [o for _, o in floats],
                [t for t, _ in ints],
                [o for _, o in ints],
            )
        return self._ema_lists

    def _apply(self, fn, *args, **kwargs):
        self._ema_lists = None  # `to()` and friends replace buffers (and, under some settings, parameters): see above
        return super()._apply(fn, *args, **kwargs)

    def load_state_dict(self, state_dict, *args, **kwargs):
        self._ema_lists = None  # `assign=True` replaces the tensors
        return super().load_state_dict(state_dict, *args, **kwargs)

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        """`target = momentum * target + (1 - momentum) * online`, for parameters and batch-norm statistics
        (integer buffers such as `num_batches_tracked` are copied), as one fused `_foreach_lerp_` over cached
        tensor lists. Call it after every optimizer step; the momentum (and its schedule) is the trainer's
        to choose."""
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"The EMA momentum must lie in [0, 1], got {momentum}.")
        targets, onlines, int_targets, int_onlines = self._ema_tensor_lists()
        torch._foreach_lerp_(targets, onlines, 1.0 - momentum)
        if int_targets:
            torch._foreach_copy_(int_targets, int_onlines)
        self._target_updated = True

    def _warn_if_target_never_moves(self) -> None:
        """Training without `update_target` (e.g. the stock `Trainer` without VITO's callback) trains against a
        frozen target: say so once, instead of failing silently. The first training forward records the
        projector's output bias; a later one that finds it changed (an optimizer step) while `update_target` was
        never called warns. Checking stops at the first `update_target` or warning, so a wired-up run pays for
        one comparison per micro-batch of its first optimizer step only."""
        if self._target_updated or self._online_snapshot is False or torch.compiler.is_compiling():
            return
        bias = self.projector.dense_out.bias
        if self._online_snapshot is None:
            self._online_snapshot = bias.detach().clone()
        elif not torch.equal(bias, self._online_snapshot):
            logger.warning(
                "VitoForPreTraining: an optimizer step changed the online network but its EMA target never moved. "
                "Call `model.update_target(momentum)` after every optimizer step: with transformers' Trainer, use "
                "`vito_hf.training.VitoTrainer`, or pass a `TrainerCallback` whose `on_optimizer_step` calls it."
            )
            self._online_snapshot = False

    def zero_grad(self, set_to_none: bool = True) -> None:
        """As `nn.Module.zero_grad`, without walking the frozen target, which never holds gradients
        (Trainer calls this every step)."""
        for name, child in self.named_children():
            if name != "target":
                child.zero_grad(set_to_none)

    @can_return_tuple
    @auto_docstring
    def forward(self, pixel_values: torch.Tensor, **kwargs) -> VitoForPreTrainingOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, num_views, 3, height, width)`):
            Normalised, independently augmented frames of each clip.
        """
        if pixel_values.dim() != 5:
            raise ValueError(
                f"VitoForPreTraining expects pixel_values of shape (batch, views, 3, height, width), got "
                f"{tuple(pixel_values.shape)}."
            )
        if self.training and torch.is_grad_enabled():
            self._warn_if_target_never_moves()
        batch_size, num_views = pixel_values.shape[:2]
        images = pixel_values.flatten(0, 1)

        outputs = self.vito(images, output_attentions=True, return_dict=True)
        online = self.projector(outputs.pooler_output)
        if self.predictor is not None:
            online = self.predictor(online)
        with torch.no_grad():
            target = self.target["projector"](self.target["vito"](images, return_dict=True).pooler_output)

        online = online.view(batch_size, num_views, -1)
        target = target.view(batch_size, num_views, -1)
        loss = multi_view_info_nce(online, target, self.config.temperature)
        with torch.no_grad():
            masks = [attention.float().flatten(2) for attention in outputs.attentions]
            attention_entropy = torch.stack([-(p * p.clamp_min(1e-12).log()).sum(-1).mean() for p in masks]).mean()

        return VitoForPreTrainingOutput(
            loss=loss, online_projections=online, target_projections=target, attention_entropy=attention_entropy
        )


@auto_docstring(
    custom_intro="""
    A VITO encoder with a linear head on the attention-pooled features (linear probe or fine-tuning).
    """
)
class VitoForImageClassification(VitoPreTrainedModel):
    def __init__(self, config: VitoConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.vito = VitoModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = (
            nn.Linear(self.vito.num_features, config.num_labels) if config.num_labels > 0 else nn.Identity()
        )
        self.post_init()

    @can_return_tuple
    @auto_docstring
    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> ImageClassifierOutput:
        outputs = self.vito(
            pixel_values,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = self.loss_function(labels, logits, self.config, **kwargs) if labels is not None else None
        return ImageClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


@auto_docstring(
    custom_intro="""
    Video classification as in the paper's UCF-101 protocol: per-frame VITO features averaged over time, then a
    linear head (the image classifier's modules, so its checkpoints load either way).
    """
)
class VitoForVideoClassification(VitoForImageClassification):
    _processors = {
        **VitoForImageClassification._processors,
        "video_processor": (VitoVideoProcessor, VIDEO_PROCESSOR_NAME),
    }

    def _default_processor(self, name: str):
        if name == "video_processor":  # each frame prepared as the image processor prepares an image
            return VitoVideoProcessor.like(self.image_processor or VitoImageProcessor(), self.config.num_frames)
        return super()._default_processor(name)

    @can_return_tuple
    @auto_docstring
    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> ImageClassifierOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, num_frames, 3, height, width)`):
            Normalised frames of each video (see `VitoVideoProcessor`). Hidden states and attentions come back per
            frame, with a frame axis after the batch axis: `(batch_size, num_frames, ...)`.
        """
        if pixel_values.dim() != 5:
            raise ValueError(
                f"VitoForVideoClassification expects pixel_values of shape (batch, frames, 3, height, width), got "
                f"{tuple(pixel_values.shape)}."
            )
        batch_size, num_frames = pixel_values.shape[:2]
        outputs = self.vito(
            pixel_values.flatten(0, 1),
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        features = outputs.pooler_output.view(batch_size, num_frames, -1).mean(dim=1)
        logits = self.classifier(self.dropout(features))
        loss = self.loss_function(labels, logits, self.config, **kwargs) if labels is not None else None

        def per_video(tensors):
            return None if tensors is None else tuple(t.unflatten(0, (batch_size, num_frames)) for t in tensors)

        return ImageClassifierOutput(
            loss=loss,
            logits=logits,
            hidden_states=per_video(outputs.hidden_states),
            attentions=per_video(outputs.attentions),
        )


@auto_docstring(
    custom_intro="""
    The VITO encoder's backbone as a transformers backbone (`AutoBackbone`), so detection and segmentation heads
    (UperNet, DETR family) can fine-tune it. Returns the stages in `config.out_features`; loads the backbone weights
    of a `VitoModel` or `VitoForPreTraining` checkpoint (the pooling heads are not used).
    """
)
class VitoBackbone(BackboneMixin, VitoPreTrainedModel):
    def __init__(self, config: VitoConfig):
        super().__init__(config)
        backbone_config = copy.deepcopy(config.backbone_config)
        backbone_config.out_features = config.out_features
        self.backbone = load_backbone(backbone_config)
        if config.backbone_padding == "tf-same":
            use_tf_same_padding(self.backbone)
        self.num_features = self.backbone.num_features
        self.post_init()

    @can_return_tuple
    @filter_output_hidden_states
    @auto_docstring
    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs,
    ) -> BackboneOutput:
        return backbone_feature_maps(
            self.backbone, pixel_values, output_hidden_states=output_hidden_states, output_attentions=output_attentions
        )


__all__ = [
    "VitoPreTrainedModel",
    "VitoModel",
    "VitoForPreTraining",
    "VitoForImageClassification",
    "VitoForVideoClassification",
    "VitoBackbone",
]
