"""vito_hf: VITO self-supervised video pretraining, native to Hugging Face transformers.

Importing the package registers the VITO classes with the Auto* factories, so `AutoModel`,
`AutoModelForImageClassification`, `AutoBackbone`, `AutoImageProcessor`, `AutoVideoProcessor`, ... resolve
`model_type="vito"`.
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

# `transformers.AutoVideoProcessor` is a placeholder that raises without torchvision; the class behind it works.
from transformers.models.auto.video_processing_auto import AutoVideoProcessor

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
from .video_processing_vito import VitoVideoProcessor

AutoConfig.register("vito", VitoConfig)
AutoModel.register(VitoConfig, VitoModel)
AutoModelForPreTraining.register(VitoConfig, VitoForPreTraining)
AutoModelForImageClassification.register(VitoConfig, VitoForImageClassification)
AutoModelForVideoClassification.register(VitoConfig, VitoForVideoClassification)
AutoBackbone.register(VitoConfig, VitoBackbone)
AutoImageProcessor.register(VitoConfig, image_processor_classes={"pil": VitoImageProcessor})
# AutoVideoProcessor asks for the "torchvision" backend unless told otherwise (pipelines cannot tell it); the VITO
# video processor needs only PIL and PyAV, so it serves both. Registering it also tells every pipeline that
# reads a saved VITO folder that its video processor is local code: no trust_remote_code prompt.
AutoVideoProcessor.register(
    VitoConfig, video_processor_classes={"pil": VitoVideoProcessor, "torchvision": VitoVideoProcessor}
)

# `save_pretrained` copies the three modeling files beside the weights and writes `auto_map`, so a saved
# folder loads with `trust_remote_code=True` where vito_hf is not installed.
VitoConfig.register_for_auto_class()
VitoModel.register_for_auto_class("AutoModel")
VitoForPreTraining.register_for_auto_class("AutoModelForPreTraining")
VitoForImageClassification.register_for_auto_class("AutoModelForImageClassification")
VitoForVideoClassification.register_for_auto_class("AutoModelForVideoClassification")
VitoBackbone.register_for_auto_class("AutoBackbone")
VitoImageProcessor.register_for_auto_class("AutoImageProcessor")
VitoVideoProcessor.register_for_auto_class("AutoVideoProcessor")

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
    "VitoVideoProcessor",
    "load_preset",
]
