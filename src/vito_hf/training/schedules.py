"""Schedules of a VITO run: the EMA momentum of the target network and the learning-rate scaling rule.

The learning-rate schedule itself is Trainer's (`lr_scheduler_type="cosine"` with `warmup_steps`).

Both are pure functions of the optimizer step, so a resumed run recomputes them from `global_step` and
needs no saved state of its own.
"""

import math

REFERENCE_BATCH_SIZE = 256
EMA_SCHEDULES = ("cosine", "constant")


def ema_momentum(step: int, total_steps: int, base: float, schedule: str = "cosine") -> float:
    """Momentum of the EMA update applied after optimizer step `step` (0-based) of `total_steps`.

    `schedule="cosine"` (the paper's, BYOL's rule): `m(t) = 1 - (1 - base) * (cos(pi * t / T) + 1) / 2`, so
    `m(0) = base` and the momentum rises to 1 at `t = T` (the last update, `t = T - 1`, is just below 1).
    `schedule="constant"` keeps `base` throughout.
    """
    if total_steps <= 0:
        raise ValueError(f"`total_steps` must be positive, got {total_steps}.")
    if not 0.0 <= base <= 1.0:
        raise ValueError(f"EMA base momentum must lie in [0, 1], got {base}.")
    if schedule == "constant":
        return base
    if schedule != "cosine":
        raise ValueError(f"EMA momentum schedule must be 'cosine' or 'constant', got {schedule!r}.")
    progress = min(max(step, 0), total_steps) / total_steps
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0


def scaled_learning_rate(base_learning_rate: float, global_batch_size: int) -> float:
    """The linear scaling rule of the paper (and SimCLR/BYOL): `base * global_batch / 256`."""
    if base_learning_rate <= 0:
        raise ValueError(f"The base learning rate must be positive, got {base_learning_rate}.")
    if global_batch_size <= 0:
        raise ValueError(f"The global batch size must be positive, got {global_batch_size}.")
    return base_learning_rate * global_batch_size / REFERENCE_BATCH_SIZE
