"""The EMA target update, as a `TrainerCallback`.

In transformers 5.24 (checked; pyproject admits 5.24 to <6) `Trainer._run_epoch` calls, once per real optimizer step (after the last micro-batch
of a gradient-accumulation cycle): `on_pre_optimizer_step`, `optimizer.step()`, `on_optimizer_step`,
`lr_scheduler.step()`, `global_step += 1`, `on_step_end`. So `on_optimizer_step` sees the freshly updated
online weights — the moment BYOL and DINO move their target — and `state.global_step` still holds the
0-based index of the step just taken. The momentum is a function of that index alone, so a resumed run
(whose `global_step` comes back from `trainer_state.json`) continues the schedule with no callback state.
"""

from transformers import TrainerCallback

from .schedules import ema_momentum


def unwrap(model):
    """The model under DDP (`.module`) and `torch.compile` (`._orig_mod`) wrappers."""
    while True:
        if hasattr(model, "module"):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


DEFAULT_EMA_MOMENTUM_BASE = 0.996
DEFAULT_EMA_MOMENTUM_SCHEDULE = "cosine"


def ema_momentum_at(args, step: int, total_steps: int) -> float:
    """Momentum of the update after optimizer step `step`, from the run's arguments (`VitoTrainingArguments`;
    plain `TrainingArguments` get the paper's cosine schedule from 0.996)."""
    base = getattr(args, "ema_momentum_base", DEFAULT_EMA_MOMENTUM_BASE)
    schedule = getattr(args, "ema_momentum_schedule", DEFAULT_EMA_MOMENTUM_SCHEDULE)
    return ema_momentum(step, total_steps, base, schedule)


class EmaTargetCallback(TrainerCallback):
    """After every optimizer step: `target <- m * target + (1 - m) * online` with the run's momentum schedule."""

    def on_optimizer_step(self, args, state, control, model=None, **kwargs):
        if model is None:
            raise ValueError("EmaTargetCallback needs the model: add it to a Trainer, which passes it to callbacks.")
        unwrap(model).update_target(ema_momentum_at(args, state.global_step, state.max_steps))
