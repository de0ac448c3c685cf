"""`VitoTrainer`: `transformers.Trainer` for `VitoForPreTraining`.

What it adds to `Trainer`:
- the loss comes from the model (multi-view InfoNCE, negatives gathered over processes); an eval loss
  without labels;
- the EMA target moves once per optimizer step (`EmaTargetCallback`), never per micro-batch;
- LARS or fused AdamW (the learning rate optionally given as base x global batch / 256, which
  `VitoTrainingArguments` computes);
- batch norm synchronised over processes (CPU/gloo and GPU/NCCL), each process reading its own shard;
- the photometric augmentation on the accelerator when given a `DeviceViewAugmentation`;
- a stream's epoch and position in it restored on resume, where Trainer would restart a stream at
  epoch 0 (the data itself, seeded per example, comes from `vito_hf.data.build_pretraining_data`);
- a non-finite loss stops the run with a clear error, and a checkpoint is never written after one: each
  step folds its loss's finiteness into a flag on the device, read only at logging and saving steps (and
  at the end), so the steady-state step never waits for the accelerator;
- logs of the EMA momentum, attention entropy and throughput (examples/s, view-images/s);
- less per-step bookkeeping (gradient norm only on logging steps, no parameter recount for FLOPs), so
  a small model's step costs what a hand-written loop's does.
"""

import os
import time

import torch
from torch import nn
from transformers import Trainer, TrainerState
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import IntervalStrategy, has_length
from transformers.utils import logging

from ..data.collation import DeviceViewAugmentation
from ..data.seeding import AUGMENTATION_SEED_KEY
from .arguments import VitoTrainingArguments
from .callbacks import EmaTargetCallback, ema_momentum_at, unwrap
from .lars import build_optimizer
from .sync_batchnorm import convert_sync_batchnorm

logger = logging.get_logger(__name__)


class NonFiniteLossError(RuntimeError):
    """The loss (or the weights) became NaN or infinite: the run stops and nothing more is saved."""


class VitoTrainer(Trainer):
    """Trainer for `VitoForPreTraining` (see the module docstring for what it changes and why).

    Batches are dicts with `pixel_values` of shape `(batch, views, 3, height, width)`, e.g. from
    `vito_hf.data.VitoPretrainingCollator`; uint8 batches are finished by `device_augmentation`.
    `args` must be a `VitoTrainingArguments`; neither it nor the data is changed.

    Private `Trainer` methods overridden (each says why): `_get_grad_norm`, `_init_training_state`,
    `_save_checkpoint`; checked against transformers 5.24 (pyproject admits >=5.24,<6).
    """

    # The model's loss is a mean over the local batch, so Trainer must divide it by the accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        model: nn.Module,
        args: VitoTrainingArguments,
        *trainer_args,
        device_augmentation: DeviceViewAugmentation | None = None,
        **kwargs,
    ):
        if not isinstance(args, VitoTrainingArguments):
            raise TypeError(f"VitoTrainer needs VitoTrainingArguments, got {type(args).__name__}.")
        if not hasattr(unwrap(model), "update_target"):
            raise TypeError(f"VitoTrainer trains VitoForPreTraining (with an EMA target), got {type(model).__name__}.")
        if args.world_size > 1 and args.sync_batchnorm:
            model = convert_sync_batchnorm(model)
        if args.channels_last:
            model = model.to(memory_format=torch.channels_last)
        super().__init__(model, args, *trainer_args, **kwargs)
        self.device_augmentation = device_augmentation
        if not any(isinstance(callback, EmaTargetCallback) for callback in self.callback_handler.callbacks):
            self.add_callback(EmaTargetCallback())
        self._world_size = args.world_size
        self._first_bad_step = self._first_bad_value = None
        self._reset_interval_meters()

    def train(self, *args, **kwargs):
        self._reset_interval_meters()
        self._first_bad_step = self._first_bad_value = None
        return super().train(*args, **kwargs)

    # ---- optimisation -------------------------------------------------------------------------------

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        if self.optimizer is None:
            self.optimizer = build_optimizer(
                self.model if model is None else model,
                self.args.optimizer_name,
                lr=self.args.learning_rate,
                weight_decay=self.args.weight_decay,
                momentum=self.args.lars_momentum,
                trust_coefficient=self.args.lars_trust_coefficient,
                adam_betas=(self.args.adam_beta1, self.args.adam_beta2),
                adam_epsilon=self.args.adam_epsilon,
            )
        return self.optimizer

    # ---- the step -----------------------------------------------------------------------------------

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if "pixel_values" not in inputs:
            raise ValueError(
                f"VitoTrainer expects batches with `pixel_values` of shape (batch, views, 3, height, width), got "
                f"keys {sorted(inputs)}: use vito_hf.data.VitoPretrainingCollator as the data collator."
            )
        pixel_values = inputs["pixel_values"]
        if pixel_values.dtype == torch.uint8:
            if self.device_augmentation is None:
                raise ValueError(
                    "The batch is uint8 (un-augmented views): pass VitoTrainer(device_augmentation=...) as "
                    "vito_hf.data.build_pretraining_data returns it, or let the collator augment."
                )
            pixel_values = self.device_augmentation(pixel_values, inputs.get(AUGMENTATION_SEED_KEY))
        outputs = model(pixel_values=pixel_values)
        loss = outputs.loss.float()
        if model.training and outputs.attention_entropy is not None:
            self._entropy_sum += outputs.attention_entropy.detach().float()
            self._entropy_count += 1
        return (loss, outputs) if return_outputs else loss

    def training_step(self, model, inputs, num_items_in_batch=None):
        """Forward, backward, the finiteness flag. Trainer's version also handles SageMaker, context
        parallelism and LOMO; this one does only what a VITO step needs (and sets train mode only when
        evaluation switched it off)."""
        if self.is_deepspeed_enabled:
            return super().training_step(model, inputs, num_items_in_batch)
        if not unwrap(model).training:  # evaluation switches the unwrapped model to eval, not a DDP wrapper
            model.train()
        inputs = self._prepare_inputs(inputs)
        batch_size, num_views = inputs["pixel_values"].shape[:2]
        with self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        del inputs
        if not self.loss_is_scaled_for_ga:
            loss = loss / self.current_gradient_accumulation_steps
        self.accelerator.backward(loss)
        self._record_finiteness(loss)
        self._examples_seen += batch_size
        self._views_per_example = num_views
        return loss.detach()

    def _record_finiteness(self, loss: torch.Tensor) -> None:
        """Remember, on the loss's device, the first step whose loss was not finite (and its value): reading
        it back would stall the host until the accelerator caught up, so `_raise_if_non_finite` does that
        only where the step syncs anyway (logging, saving) and at the end of training."""
        bad = ~torch.isfinite(loss.detach())
        if self._first_bad_step is None:
            self._first_bad_step = torch.full((), -1, dtype=torch.int64, device=loss.device)
            self._first_bad_value = torch.zeros((), dtype=loss.dtype, device=loss.device)
        first = bad & (self._first_bad_step < 0)
        self._first_bad_step = torch.where(first, self.state.global_step + 1, self._first_bad_step)
        self._first_bad_value = torch.where(first, loss.detach(), self._first_bad_value)

    def _raise_if_non_finite(self) -> None:
        """Stop the run if any step of this `train()` had a non-finite loss on any process (all processes
        call this at the same steps: logging, saving, and the end of training, where `Trainer` logs
        `train_loss` before `on_train_end` and before the caller can save the model)."""
        if self._first_bad_step is None:
            return
        bad = (self._first_bad_step >= 0).to(torch.int32)
        if self._world_size > 1:
            bad = self.accelerator.reduce(bad, reduction="sum")
        if not bool(bad):
            return
        step = int(self._first_bad_step)
        where = (
            f"at optimizer step {step} (value {float(self._first_bad_value)} on this process)"
            if step >= 0
            else "on another process"
        )
        raise NonFiniteLossError(
            f"The VITO loss is not finite {where}; the run stops at step {self.state.global_step} and no "
            f"checkpoint is written from it. Lower the learning rate or the warm-up, use bf16 rather than fp16, "
            f"check the clips, then resume from the newest complete checkpoint-* in {self.args.output_dir}."
        )

    def _get_grad_norm(self, model, grad_norm=None):
        """The full gradient norm costs a pass over every gradient: compute it only when it is logged.

        Private Trainer method, overridden for speed (a small model's step costs a third more with it);
        checked against transformers 5.24 (pyproject admits >=5.24,<6)."""
        if grad_norm is None and not self._logs_after_this_step():
            return None
        return super()._get_grad_norm(model, grad_norm=grad_norm)

    def _logs_after_this_step(self) -> bool:
        if self.args.logging_strategy != IntervalStrategy.STEPS:
            return self.args.logging_strategy == IntervalStrategy.EPOCH
        step = self.state.global_step + 1
        every = self.state.logging_steps or 0
        return (self.args.logging_first_step and step == 1) or (every > 0 and step % every == 0)

    def floating_point_ops(self, inputs) -> int:
        """Trainer's estimate (6 x input elements x parameters) is a token-model formula: for a conv net
        on pixels it is meaningless, and it recounts all parameters, the frozen EMA copy included, every
        step. Not estimated."""
        return 0

    # ---- evaluation ---------------------------------------------------------------------------------

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """The eval loss of a batch (no labels: the objective is self-supervised)."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    # ---- logging ------------------------------------------------------------------------------------

    def _reset_interval_meters(self) -> None:
        self._entropy_sum = torch.zeros((), device=self.args.device)
        self._entropy_count = 0
        self._examples_seen = 0
        self._views_per_example = 0
        self._interval_start = time.perf_counter()

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs or "train_loss" in logs:  # logging steps, and the end of training before any callback
            self._raise_if_non_finite()
        if "loss" in logs and self.state.global_step > 0:
            logs["ema_momentum"] = ema_momentum_at(self.args, self.state.global_step - 1, self.state.max_steps)
            if self._entropy_count:
                entropy = self._entropy_sum / self._entropy_count
                if self._world_size > 1:
                    entropy = self.accelerator.reduce(entropy, reduction="mean")
                logs["attention_entropy"] = round(float(entropy), 4)
            elapsed = time.perf_counter() - self._interval_start
            if self._examples_seen and elapsed > 0:
                examples = self._examples_seen * self._world_size
                logs["examples_per_second"] = round(examples / elapsed, 2)
                logs["view_images_per_second"] = round(examples * self._views_per_example / elapsed, 2)
            self._reset_interval_meters()
        super().log(logs, start_time)

    # ---- data and checkpoints -----------------------------------------------------------------------

    def _init_training_state(
        self, max_steps, num_update_steps_per_epoch, num_train_epochs, resume_from_checkpoint, trial
    ) -> tuple[int, int]:
        """Where to resume in the data. Trainer cannot know a stream's length, so it counts every step of a
        stream as epoch 0 and skips `global_step` batches from its start: wrong once a run has gone round
        the stream. For a stream Trainer records `state.epoch = epoch + batches into it / (max_steps x
        accumulation)`, with the `max_steps` of the run that wrote the checkpoint: the epoch and the batches
        to skip are read back from it (also when the resumed run asks for more steps).

        Private Trainer method, overridden because no public hook sets the resume position in the data;
        checked against transformers 5.24 (pyproject admits >=5.24,<6)."""
        epochs_trained, batches_to_skip = super()._init_training_state(
            max_steps, num_update_steps_per_epoch, num_train_epochs, resume_from_checkpoint, trial
        )
        streamed = resume_from_checkpoint is not None and not has_length(self.train_dataset)
        if streamed and self.state.global_step > 0 and not self.args.ignore_data_skip:
            saved = TrainerState.load_from_json(os.path.join(resume_from_checkpoint, TRAINER_STATE_NAME))
            epochs_trained = int(saved.epoch)
            batches_per_epoch = saved.max_steps * self.args.gradient_accumulation_steps
            batches_to_skip = round((saved.epoch - epochs_trained) * batches_per_epoch)
        return epochs_trained, batches_to_skip

    def _save_checkpoint(self, model, trial) -> None:
        """Refuse to write a checkpoint from non-finite weights: the last good one stays the newest.

        Private Trainer method, overridden because `on_save` runs only after the files are written;
        checked against transformers 5.24 (pyproject admits >=5.24,<6)."""
        self._raise_if_non_finite()
        tensors = [t for t in self.model.state_dict().values() if t.is_floating_point()]
        if not bool(torch.isfinite(torch.stack(torch._foreach_norm(tensors))).all()):
            raise NonFiniteLossError(
                f"The weights or batch-norm statistics became non-finite at step {self.state.global_step}; the "
                f"checkpoint was not written. Resume from the newest complete checkpoint in {self.args.output_dir} "
                f"with a lower learning rate."
            )
        super()._save_checkpoint(model, trial)

