"""vito_hf: VITO self-supervised video pretraining, native to Hugging Face transformers.

Importing the package registers the VITO classes with the Auto* factories, so `AutoModel`,
`AutoModelForImageClassification`, `AutoBackbone`, `AutoImageProcessor`, ... resolve `model_type="vito"`.
"""

from transformers import (
    AutoBackbone,
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForPreTraining,
    AutoModelForVideoClassification,
)

from .configuration_vito import VitoConfig
from .image_processing_vito import VitoImageProcessor
from .modeling_vito import (
    VitoBackbone,
    VitoForImageClassification,
    VitoForPreTraining,
    VitoForVideoClassification,
    VitoModel,
    VitoPreTrainedModel,
)
from .presets import PRESET_NAMES, load_preset

AutoConfig.register("vito", VitoConfig)
AutoModel.register(VitoConfig, VitoModel)
AutoModelForPreTraining.register(VitoConfig, VitoForPreTraining)
AutoModelForImageClassification.register(VitoConfig, VitoForImageClassification)
AutoModelForVideoClassification.register(VitoConfig, VitoForVideoClassification)
AutoBackbone.register(VitoConfig, VitoBackbone)
AutoImageProcessor.register(VitoConfig, image_processor_classes={"pil": VitoImageProcessor})

# `save_pretrained` copies the three modeling files beside the weights and writes `auto_map`, so a saved
# folder loads with `trust_remote_code=True` where vito_hf is not installed.
VitoConfig.register_for_auto_class()
VitoModel.register_for_auto_class("AutoModel")
VitoForPreTraining.register_for_auto_class("AutoModelForPreTraining")
VitoForImageClassification.register_for_auto_class("AutoModelForImageClassification")
VitoForVideoClassification.register_for_auto_class("AutoModelForVideoClassification")
VitoBackbone.register_for_auto_class("AutoBackbone")
VitoImageProcessor.register_for_auto_class("AutoImageProcessor")

__all__ = [
    "PRESET_NAMES",
    "VitoBackbone",
    "VitoConfig",
    "VitoForImageClassification",
    "VitoForPreTraining",
    "VitoForVideoClassification",
    "VitoImageProcessor",
    "VitoModel",
    "VitoPreTrainedModel",
    "load_preset",
]
