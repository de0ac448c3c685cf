"""Finding the checkpoint to resume from.

`Trainer` writes a checkpoint file by file; a run killed mid-save leaves a folder without its
`trainer_state.json` (written after the weights, optimizer, scheduler and RNG states). Such a folder is
skipped, so a resume always starts from the last checkpoint that was saved whole. A finished run is recognised
by the state saved with its results, so rerunning the same command changes nothing.
"""

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

logger = logging.getLogger(__name__)

TRAINER_STATE_FILE = "trainer_state.json"
REQUIRED_FILES = (TRAINER_STATE_FILE, "optimizer.pt", "scheduler.pt")
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


def checkpoint_step(folder: str | Path) -> int:
    """The step a checkpoint (or a folder holding a `trainer_state.json`) was saved at."""
    return int(json.loads((Path(folder) / TRAINER_STATE_FILE).read_text())["global_step"])


@dataclass(frozen=True)
class ResumePlan:
    """What a (re)run does with the folder it finds: where it resumes, or that there is nothing left to do."""

    checkpoint: Path | None
    """The checkpoint training resumes from (None: from step 0)."""
    start_step: int
    finished: bool
    """The run reached `max_steps` and saved its results: nothing to train or write."""
    message: str


def plan_resume(
    output_dir: str | Path, max_steps: int, *, results_dir: str | Path, resume_from: str | Path | None = None
) -> ResumePlan:
    """Compare the step a run folder reached with `max_steps` before anything is built or written.

    `results_dir` is the folder written last when a run ends, with its `trainer_state.json`. Equal steps and
    results present: finished, nothing to do. A larger `max_steps`: resume from the newest checkpoint (or
    `resume_from`). A smaller one: `ValueError`, as continuing cannot shorten a run. `max_steps <= 0` (a
    length in epochs) is compared by `Trainer` itself.
    """
    output_dir, results_state = Path(output_dir), Path(results_dir) / TRAINER_STATE_FILE
    if resume_from is not None and not (Path(resume_from) / TRAINER_STATE_FILE).is_file():
        raise ValueError(f"--resume_from_checkpoint {resume_from} is not a checkpoint folder (no {TRAINER_STATE_FILE}).")
    checkpoint = Path(resume_from) if resume_from is not None else last_complete_checkpoint(output_dir)
    start = checkpoint_step(checkpoint) if checkpoint is not None else 0
    finished = checkpoint_step(results_state.parent) if results_state.is_file() else None
    if max_steps > 0:
        reached = max(start, finished or 0)
        if reached > max_steps:
            raise ValueError(
                f"{output_dir} holds a run that reached step {reached}, beyond --max_steps {max_steps}: pass "
                f"--max_steps {reached} or more to keep or continue it, or a new --output_dir for a shorter run."
            )
        if finished == max_steps:
            return ResumePlan(
                checkpoint, start, True,
                f"already finished at step {finished}: nothing to do (a larger --max_steps continues it)",
            )
    target = f"step {max_steps}" if max_steps > 0 else "the end"
    if checkpoint is None:
        lost = f"no checkpoint of the run finished at step {finished} to continue from: " if finished else ""
        return ResumePlan(None, 0, False, f"{lost}training from step 0 to {target}")
    if start == max_steps:
        return ResumePlan(checkpoint, start, False, f"saving the results of {checkpoint} (the run ended at step {start})")
    return ResumePlan(checkpoint, start, False, f"continuing from step {start} ({checkpoint}) to {target}")
