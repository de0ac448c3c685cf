#!/usr/bin/env python
"""Pretrain a VITO encoder on video clips with VitoTrainer (one CPU, one GPU, or many under `accelerate launch`).

    # a small CPU run (AdamW):
    python training_scripts/run_pretraining.py --output_dir runs/tiny --preset tiny --data_dir curated/ \\
        --max_steps 1000 --per_device_train_batch_size 32 --optimizer_name adamw --learning_rate 2e-3 --use_cpu
    # the paper's recipe (--recipe paper: LARS, global batch 4,096 checked, lr 0.3 x 4096/256 = 4.8, 10 warm-up and
    # 300 ImageNet epochs = 3,125 and 93,750 steps, wd 1e-6) on 8 GPUs: 8 x 128 per device x 4 accumulation steps
    accelerate launch --config_file training_scripts/accelerate/multi_gpu_8.yaml training_scripts/run_pretraining.py \\
        --recipe paper --per_device_train_batch_size 128 --gradient_accumulation_steps 4 \\
        --output_dir runs/resnet50 --preset resnet50 --data_dir videonet/ --bf16 --channels_last \\
        --dataloader_num_workers 8 --save_steps 1000 --report_to tensorboard
    # on 4 nodes of 8 GPUs (32 x 128 x 1) under Slurm: sbatch --nodes 4 training_scripts/slurm_paper_recipe.sh

Rerunning the same command resumes from the newest complete checkpoint in --output_dir; once the run has
finished it does nothing (a larger --max_steps continues it). At the end the folder holds encoder/ (a VitoModel
folder that AutoModel loads, with its model card), pretraining/ (online + EMA target) and training_curves.png.
Flags may also be spelled with hyphens (--output-dir). Argument errors exit with code 2 before anything is written. All logic
lives in vito_hf.training.pretraining (the run) and vito_hf.hub (the card).
"""

import argparse

from vito_hf.cli import HfArgumentParser
from vito_hf.hub import write_pretraining_card
from vito_hf.training import DataArguments, ModelArguments, VitoTrainingArguments
from vito_hf.training.pretraining import check_arguments, run_pretraining


def main(argv: list[str] | None = None) -> None:
    parser = HfArgumentParser(
        (ModelArguments, DataArguments, VitoTrainingArguments),
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    model_args, data_args, training_args = parser.parse_dataclasses(argv, required=("output_dir", "data_dir"))
    try:
        check_arguments(model_args, data_args, training_args)
    except ValueError as error:
        parser.error(str(error))
    outputs = run_pretraining(model_args, data_args, training_args)
    if training_args.process_index == 0:
        write_pretraining_card(outputs.encoder_dir, already_finished=outputs.already_finished)
        print(outputs.message)
        if not outputs.already_finished:
            resumed = f" (resumed from {outputs.resumed_from})" if outputs.resumed_from else ""
            print(f"steps trained: {outputs.global_step}{resumed}")
        print(f"encoder (AutoModel.from_pretrained): {outputs.encoder_dir}")
        print(f"pretraining model (online + EMA target): {outputs.pretraining_dir}")
        if outputs.curves_path is not None:
            print(f"training curves: {outputs.curves_path}")


if __name__ == "__main__":
    main()
