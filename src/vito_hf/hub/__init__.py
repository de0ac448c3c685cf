"""Sharing VITO checkpoints and clip stores: model cards written from runs, and publishing to the Hub."""

from .cards import (
    ModelCardError,
    build_model_card,
    update_card_of_vito_folder,
    update_card_with_results,
    write_finetune_card,
    write_model_card,
    write_pretraining_card,
)
from .publish import (
    HubUnreachableError,
    PublishError,
    UploadPlan,
    check_hub_reachable,
    plan_checkpoint_upload,
    plan_store_upload,
    push_checkpoint,
    push_clip_store,
)

__all__ = [
    "HubUnreachableError",
    "ModelCardError",
    "PublishError",
    "UploadPlan",
    "build_model_card",
    "check_hub_reachable",
    "plan_checkpoint_upload",
    "plan_store_upload",
    "push_checkpoint",
    "push_clip_store",
    "update_card_of_vito_folder",
    "update_card_with_results",
    "write_finetune_card",
    "write_model_card",
    "write_pretraining_card",
]
