#!/bin/bash
# The paper's pretraining recipe (--recipe paper: global batch 4,096, LARS, 300 ImageNet epochs) under Slurm,
# on 1 node of 8 GPUs (8 x 128 per device x 4 accumulation steps) or 4 nodes of 8 GPUs (32 x 128 x 1):
#   sbatch --nodes 1 training_scripts/slurm_paper_recipe.sh runs/resnet50 videonet/
#   sbatch --nodes 4 training_scripts/slurm_paper_recipe.sh runs/resnet50 videonet/ --save_steps 500
# Submit from the repository root. Flags after the two folders go to run_pretraining.py. Rerunning the job
# resumes from the newest checkpoint. VITO_DRY_RUN=1 with SLURM_NNODES set prints every node's command instead.
#SBATCH --job-name=vito-paper-recipe
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --exclusive
set -euo pipefail

OUTPUT_DIR=${1:?usage: slurm_paper_recipe.sh OUTPUT_DIR DATA_DIR [run_pretraining.py flags]}
DATA_DIR=${2:?usage: slurm_paper_recipe.sh OUTPUT_DIR DATA_DIR [run_pretraining.py flags]}
shift 2

GLOBAL_BATCH=4096
PER_DEVICE_BATCH=128
GPUS_PER_NODE=8
NODES=${SLURM_NNODES:-1}
case "$NODES" in
  1) CONFIG=training_scripts/accelerate/multi_gpu_8.yaml ;;
  4) CONFIG=training_scripts/accelerate/multi_node.yaml ;;
  *) echo "slurm_paper_recipe.sh: error: runs on 1 or 4 nodes of $GPUS_PER_NODE GPUs, got $NODES nodes" >&2; exit 2 ;;
esac
PROCESSES=$(( NODES * GPUS_PER_NODE ))
ACCUMULATION=$(( GLOBAL_BATCH / (PROCESSES * PER_DEVICE_BATCH) ))

TRAIN=(training_scripts/run_pretraining.py --recipe paper --preset resnet50
       --per_device_train_batch_size "$PER_DEVICE_BATCH" --gradient_accumulation_steps "$ACCUMULATION"
       --output_dir "$OUTPUT_DIR" --data_dir "$DATA_DIR" --bf16 --channels_last --dataloader_num_workers 8
       --save_steps 1000 --report_to tensorboard "$@")

if [[ -n "${VITO_DRY_RUN:-}" ]]; then
  for (( rank = 0; rank < NODES; rank++ )); do
    echo accelerate launch --config_file "$CONFIG" --machine_rank "$rank" --main_process_ip HEAD_NODE "${TRAIN[@]}"
  done
  exit 0
fi

HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export CONFIG HEAD
# One task per node; each starts the node's 8 processes with its own machine rank.
srun --ntasks-per-node=1 bash -c 'exec accelerate launch --config_file "$CONFIG" --machine_rank "$SLURM_NODEID" \
  --main_process_ip "$HEAD" "$@"' _ "${TRAIN[@]}"
