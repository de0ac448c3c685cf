"""LARS, AdamW grouping, the EMA momentum and learning-rate schedules, and where the EMA callback fires."""

import math

import pytest
import torch
from torch import nn

from vito_hf.training import LARS, VitoTrainingArguments, build_optimizer, ema_momentum, scaled_learning_rate
from vito_hf.training.callbacks import EmaTargetCallback


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))


def reference_lars_step(params, grads, buffers, lr, momentum, weight_decay, eta):
    """LARS as written in the BYOL/SimCLR papers, one tensor at a time, in float64."""
    new_params = []
    for p, g, buf in zip(params, grads, buffers):
        p, g = p.double(), g.double()
        if p.ndim > 1:
            u = g + weight_decay * p
            p_norm, u_norm = p.norm().item(), u.norm().item()
            trust = eta * p_norm / u_norm if p_norm > 0 and u_norm > 0 else 1.0
            u = u * trust
        else:
            u = g
        buf.mul_(momentum).add_(u)
        new_params.append(p - lr * buf)
    return new_params


def test_lars_matches_the_per_tensor_formula_over_steps():
    net = small_net()
    params = list(net.parameters())
    optimizer = LARS(params, lr=2.0, momentum=0.9, weight_decay=1e-2, trust_coefficient=1e-3)
    reference = [p.detach().double().clone() for p in params]
    buffers = [torch.zeros_like(p, dtype=torch.float64) for p in params]
    x = torch.randn(8, 3, 8, 8)
    for _ in range(3):
        net.zero_grad()
        net(x).square().mean().backward()
        grads = [p.grad.detach().clone() for p in params]
        optimizer.step()
        reference = reference_lars_step(reference, grads, buffers, 2.0, 0.9, 1e-2, 1e-3)
        # Feed the reference's weights back so each step is compared from the same point.
        for p, r in zip(params, reference):
            assert torch.allclose(p.double(), r, rtol=1e-5, atol=1e-7)
        with torch.no_grad():
            for p, r in zip(params, reference):
                p.copy_(r)


def test_lars_leaves_biases_and_norm_parameters_unadapted_and_undecayed():
    net = small_net()
    optimizer = LARS(net.parameters(), lr=0.5, momentum=0.0, weight_decay=0.1, trust_coefficient=1e-3)
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    net(torch.randn(4, 3, 8, 8)).sum().backward()
    grads = {name: p.grad.clone() for name, p in net.named_parameters()}
    optimizer.step()
    for name, p in net.named_parameters():
        if p.ndim <= 1:  # conv/linear biases, batch-norm weight and bias: plain SGD
            assert torch.allclose(p, before[name] - 0.5 * grads[name]), name
        else:  # matrices: the step is eta * ||w|| long (times lr), whatever the gradient's size
            step = (before[name] - p.detach()).norm()
            assert math.isclose(step.item(), 0.5 * 1e-3 * before[name].norm().item(), rel_tol=1e-4), name


def test_lars_state_round_trips_through_state_dict():
    net = small_net()
    optimizer = LARS(net.parameters(), lr=1.0)
    net(torch.randn(2, 3, 8, 8)).sum().backward()
    optimizer.step()
    restored = LARS(net.parameters(), lr=1.0)
    restored.load_state_dict(optimizer.state_dict())
    for p in net.parameters():
        assert torch.equal(restored.state[p]["momentum_buffer"], optimizer.state[p]["momentum_buffer"])


@pytest.mark.parametrize("name", ["lars", "adamw"])
def test_build_optimizer_skips_frozen_parameters_and_decays_only_matrices(name):
    net = small_net()
    frozen = nn.Linear(3, 3)
    frozen.requires_grad_(False)
    net.add_module("frozen", frozen)
    optimizer = build_optimizer(net, name, lr=0.1, weight_decay=0.5)
    grouped = [p for group in optimizer.param_groups for p in group["params"]]
    assert not any(p is frozen.weight or p is frozen.bias for p in grouped)
    assert len(grouped) == sum(p.requires_grad for p in net.parameters())
    for group in optimizer.param_groups:
        assert all(p.ndim > 1 for p in group["params"]) == (group["weight_decay"] == 0.5)
    if name == "adamw":
        assert optimizer.defaults["fused"]


def test_build_optimizer_rejects_unknown_names():
    with pytest.raises(ValueError, match="lars"):
        build_optimizer(small_net(), "sgd", lr=0.1, weight_decay=0.0)


def test_cosine_ema_momentum_rises_from_base_to_one():
    values = [ema_momentum(t, 100, 0.996) for t in range(101)]
    assert values[0] == pytest.approx(0.996)
    assert values[50] == pytest.approx(0.998)
    assert values[100] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(values, values[1:]))
    assert ema_momentum(37, 100, 0.99, schedule="constant") == 0.99
    with pytest.raises(ValueError):
        ema_momentum(0, 0, 0.99)


def test_learning_rate_scaling():
    assert scaled_learning_rate(0.3, 4096) == pytest.approx(4.8)
    assert scaled_learning_rate(0.3, 64) == pytest.approx(0.075)


def test_base_learning_rate_is_scaled_by_the_arguments_themselves(tmp_path):
    args = VitoTrainingArguments(
        output_dir=str(tmp_path), use_cpu=True, report_to="none", per_device_train_batch_size=32,
        gradient_accumulation_steps=2, base_learning_rate=0.3,
    )
    assert args.learning_rate == pytest.approx(0.3 * 64 / 256)


class _Recorder(nn.Module):
    """Records the weight the EMA update saw (only `update_target` is used by the callback)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))
        self.seen = []

    def update_target(self, momentum):
        self.seen.append((float(self.weight.detach()), momentum))


def test_ema_callback_sees_the_updated_weights_once_per_optimizer_step(tmp_path):
    """Runs the real Trainer loop (2 optimizer steps x 2 accumulated micro-batches): the EMA update must see
    the weights after each optimizer step, and fire twice, not four times."""
    from transformers import Trainer

    class Model(_Recorder):
        def forward(self, x):
            return {"loss": (self.weight - x.mean()).square()}

    model = Model()
    dataset = [{"x": torch.tensor([1.0])}] * 8
    args = VitoTrainingArguments(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=2, gradient_accumulation_steps=2,
        learning_rate=0.25, lr_scheduler_type="constant", optim="sgd", use_cpu=True, report_to="none",
        save_strategy="no", disable_tqdm=True, max_grad_norm=0.0, weight_decay=0.0, ema_momentum_base=0.9,
    )
    trainer = Trainer(model=model, args=args, train_dataset=dataset, callbacks=[EmaTargetCallback()])
    trainer.train()
    # SGD on (w - 1)^2 from 0 with lr 0.25: w = 0.5 after step 1, 0.75 after step 2.
    assert [w for w, _ in model.seen] == [pytest.approx(0.5), pytest.approx(0.75)]
    assert [m for _, m in model.seen] == [pytest.approx(ema_momentum(t, 2, 0.9)) for t in (0, 1)]
