"""Finding the checkpoint to resume from.

`Trainer` writes a checkpoint file by file; a run killed mid-save leaves a folder without its
`trainer_state.json` (written after the weights, optimizer, scheduler and RNG states). Such a folder is
skipped, so a resume always starts from the last checkpoint that was saved whole.
"""

import logging
import re
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

logger = logging.getLogger(__name__)

REQUIRED_FILES = ("trainer_state.json", "optimizer.pt", "scheduler.pt")
_CHECKPOINT_NAME = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


def _has_weights(folder: Path) -> bool:
    return (folder / "model.safetensors").is_file() or (folder / "model.safetensors.index.json").is_file()


def last_complete_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest `checkpoint-N` folder in `output_dir` holding weights and full training state, or None."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    candidates = []
    for folder in output_dir.iterdir():
        match = _CHECKPOINT_NAME.match(folder.name)
        if match and folder.is_dir():
            candidates.append((int(match.group(1)), folder))
    for _, folder in sorted(candidates, reverse=True):
        if _has_weights(folder) and all((folder / name).is_file() for name in REQUIRED_FILES):
            return folder
        logger.warning("Skipping incomplete checkpoint %s (the run stopped while saving it).", folder)
    return None
