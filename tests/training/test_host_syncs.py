"""What a `VitoTrainer` step asks of the host: in the steady state (not the first step, not a logging or
saving step) nothing, so on an accelerator the host never waits for the device and queues the next step
while the current one runs. Every way a tensor's value reaches Python (`.item()`, `bool()`, `float()`,
`int()`, `.tolist()`, `.cpu()`, `.numpy()`, `torch.cuda.synchronize`) is counted during a real tiny run, on
CPU tensors (a conversion is a conversion whatever the device; on a GPU each one is a stall). The counter
is shown to work by the logging steps, which do read the loss.

And the guarantee the deferred check keeps: a non-finite loss stops the run at the next logging or saving
step, naming the step where it went bad, and no checkpoint is written after it.
"""

from contextlib import contextmanager

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from vito_hf.training import NonFiniteLossError, VitoTrainer, last_complete_checkpoint
from training_helpers import FixedBatches, collator, cpu_args, model_state, real_view_batch, tiny_model

BATCH = 4
CONVERSIONS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__")


@pytest.fixture(scope="module")
def real_batch(tmp_path_factory) -> torch.Tensor:
    return real_view_batch(tmp_path_factory.mktemp("clips"), BATCH)


class StepPhases(TrainerCallback):
    """Which optimizer step the loop is in: from `on_step_begin` of step k (1-based) to that of step k + 1,
    so step k's share covers its forward/backward, optimizer, EMA, its logging or saving, and the fetch of
    the next batch."""

    def __init__(self):
        self.step = 0

    def on_step_begin(self, args, state, control, **kwargs):
        self.step = state.global_step + 1


@contextmanager
def counting_conversions(phases: StepPhases):
    counts: dict[int, list[str]] = {}
    originals = {name: getattr(torch.Tensor, name) for name in CONVERSIONS}
    original_sync = torch.cuda.synchronize

    def counted(name, function):
        def wrapper(*args, **kwargs):
            counts.setdefault(phases.step, []).append(name)
            return function(*args, **kwargs)

        return wrapper

    for name, function in originals.items():
        setattr(torch.Tensor, name, counted(name, function))
    torch.cuda.synchronize = counted("cuda.synchronize", original_sync)
    try:
        yield counts
    finally:
        for name, function in originals.items():
            setattr(torch.Tensor, name, function)
        torch.cuda.synchronize = original_sync


def test_steady_state_steps_convert_no_tensor_to_a_host_value(tmp_path, real_batch):
    phases = StepPhases()
    args = cpu_args(
        tmp_path, max_steps=6, logging_steps=3, per_device_train_batch_size=BATCH, optimizer_name="lars",
        train_sampling_strategy="sequential", dataloader_pin_memory=False,
    )
    trainer = VitoTrainer(
        model=tiny_model(), args=args, train_dataset=FixedBatches(real_batch.repeat(6, 1, 1, 1, 1)),
        data_collator=collator(), callbacks=[phases],
    )
    with counting_conversions(phases) as counts:
        trainer.train()
    assert trainer.state.global_step == 6
    steady = {step: counts.get(step, []) for step in (2, 4, 5)}
    assert steady == {2: [], 4: [], 5: []}
    # The counter sees conversions: the logging steps read the loss (and the finiteness flag).
    assert "item" in counts.get(3, []) and "__bool__" in counts.get(3, [])


def poisoned_batches(real_batch: torch.Tensor, bad_step: int, steps: int) -> FixedBatches:
    """`steps` batches of real views, batch `bad_step` (1-based) all NaN."""
    batches = [torch.full_like(real_batch, float("nan")) if k == bad_step else real_batch for k in range(1, steps + 1)]
    return FixedBatches(torch.cat(batches))


class StateAtSave(TrainerCallback):
    def __init__(self, model):
        self.model = model
        self.states = {}

    def on_save(self, args, state, control, **kwargs):
        self.states[state.global_step] = model_state(self.model)


def test_a_non_finite_loss_between_logging_steps_stops_the_run_at_the_next_one(tmp_path, real_batch):
    args = cpu_args(
        tmp_path, max_steps=6, logging_steps=4, per_device_train_batch_size=BATCH,
        train_sampling_strategy="sequential",
    )
    trainer = VitoTrainer(
        model=tiny_model(), args=args, train_dataset=poisoned_batches(real_batch, bad_step=2, steps=6),
        data_collator=collator(),
    )
    with pytest.raises(NonFiniteLossError, match=r"not finite at optimizer step 2 \(value nan"):
        trainer.train()
    # Deferred, not lost: the steps after the bad one ran until the logging step read the flag.
    assert trainer.state.global_step == 4
    assert not any("loss" in entry for entry in trainer.state.log_history)


def test_a_non_finite_loss_never_reaches_a_checkpoint(tmp_path, real_batch):
    """Saving every other step, logging rarely: the bad step 3 is caught at the save of step 4, which is not
    written; checkpoint-2 stays the newest, finite, and exactly the weights at its save."""
    model = tiny_model()
    saved = StateAtSave(model)
    args = cpu_args(
        tmp_path, max_steps=6, logging_steps=100, save_strategy="steps", save_steps=2,
        per_device_train_batch_size=BATCH, train_sampling_strategy="sequential",
    )
    trainer = VitoTrainer(
        model=model, args=args, train_dataset=poisoned_batches(real_batch, bad_step=3, steps=6),
        data_collator=collator(), callbacks=[saved],
    )
    with pytest.raises(NonFiniteLossError, match="not finite at optimizer step 3"):
        trainer.train()
    checkpoint = last_complete_checkpoint(tmp_path)
    assert checkpoint.name == "checkpoint-2" and not (tmp_path / "checkpoint-4").exists()
    assert list(saved.states) == [2]
    on_disk = load_file(checkpoint / "model.safetensors")
    assert all(torch.isfinite(tensor).all() for tensor in on_disk.values() if tensor.is_floating_point())
    for name, tensor in saved.states[2].items():
        assert torch.equal(on_disk[name], tensor), name
