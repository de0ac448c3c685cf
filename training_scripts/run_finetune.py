#!/usr/bin/env python
"""Fine-tune a saved encoder with a classification head (stock Trainer): images or a folder of videos.

    # VitoForImageClassification on an image set (a toy set, an imagefolder, a save_to_disk folder):
    python training_scripts/run_finetune.py --model_name_or_path runs/tiny/encoder --dataset digits \\
        --output_dir runs/tiny-digits --max_steps 500 --per_device_train_batch_size 32 --learning_rate 1e-3
    # VitoForVideoClassification (frame features averaged: the paper's UCF-101 protocol) on class-named
    # subfolders of videos, decoded with PyAV:
    python training_scripts/run_finetune.py --model_name_or_path runs/tiny/encoder --video_dir ucf101/ \\
        --num_frames 8 --output_dir runs/tiny-ucf --max_steps 2000

The classifier, its image processor, finetune_results.json (test accuracy, loss curve) and the classifier's model
card (README.md: the accuracy in its model-index, `base_model` the encoder's Hub id when it has one) land in
--output_dir, ready for `push_to_hub.py model`. All logic lives in vito_hf.evaluation.finetune and vito_hf.hub.
"""

import sys

from transformers import TrainingArguments

from vito_hf.cli import HfArgumentParser

from vito_hf.evaluation.finetune import FinetuneArguments, run_finetune
from vito_hf.evaluation.image_datasets import ImageDatasetError
from vito_hf.evaluation.results import EvaluationError
from vito_hf.hub import write_finetune_card


def main(argv: list[str] | None = None) -> int:
    parser = HfArgumentParser((FinetuneArguments, TrainingArguments))
    finetune_args, training_args = parser.parse_dataclasses(argv, required=("output_dir",))
    try:
        summary = run_finetune(finetune_args, training_args)
    except (EvaluationError, ImageDatasetError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    card = write_finetune_card(
        training_args.output_dir, finetuned_from=finetune_args.model_name_or_path,
        dataset=finetune_args.dataset or finetune_args.video_dir, video=finetune_args.video_dir is not None,
    )
    print(f"test accuracy: {summary['accuracy']:.4f} after {summary['steps']} steps")
    print(f"classifier: {training_args.output_dir}")
    print(f"card: {card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
