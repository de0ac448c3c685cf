"""The EMA target update as one fused `_foreach_lerp_` over tensor lists built once: the same numbers as the
textbook update tensor by tensor, no walk over the module trees after the first step, and lists rebuilt
when the model is moved or converted (which replaces its tensors)."""

import torch

from vito_hf import VitoForPreTraining
from training_helpers import tiny_model


def perturb_online(model: VitoForPreTraining, generator: torch.Generator) -> None:
    """What an optimizer step and a training forward do to the online network: new weights, new batch-norm
    statistics, one more tracked batch."""
    with torch.no_grad():
        for module in (model.vito, model.projector):
            for tensor in [*module.parameters(), *module.buffers()]:
                if tensor.is_floating_point():
                    tensor.add_(torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype))
                else:
                    tensor.add_(1)


def reference_update(model: VitoForPreTraining, momentum: float) -> dict[str, torch.Tensor]:
    """`target <- m * target + (1 - m) * online`, tensor by tensor by name (integer buffers copied)."""
    state = model.state_dict()
    expected = {}
    for name, target in state.items():
        if not name.startswith("target."):
            continue
        online = state[name.removeprefix("target.")]
        expected[name] = torch.lerp(target, online, 1.0 - momentum) if target.is_floating_point() else online.clone()
    return expected


def target_state(model: VitoForPreTraining) -> dict[str, torch.Tensor]:
    return {name: tensor.clone() for name, tensor in model.state_dict().items() if name.startswith("target.")}


def test_fused_update_equals_the_reference_update_step_after_step():
    model = tiny_model()
    generator = torch.Generator().manual_seed(0)
    for momentum in (0.996, 0.9, 0.5, 0.0, 1.0):
        perturb_online(model, generator)
        before = target_state(model)
        expected = reference_update(model, momentum)
        model.update_target(momentum)
        after = target_state(model)
        assert after.keys() == expected.keys()
        for name, tensor in expected.items():
            assert torch.equal(after[name], tensor), (momentum, name)
        textbook = {
            name: momentum * before[name] + (1 - momentum) * model.state_dict()[name.removeprefix("target.")]
            for name in before
            if before[name].is_floating_point()
        }
        for name, tensor in textbook.items():
            assert torch.allclose(after[name], tensor, rtol=1e-6, atol=1e-6), (momentum, name)
    # The copy path ran: the integer buffers (batches tracked by batch norm) count the five perturbations.
    counts = [tensor for name, tensor in target_state(model).items() if not tensor.is_floating_point()]
    assert counts and all(int(count) == 5 for count in counts)


def test_the_module_trees_are_walked_once_not_per_step(monkeypatch):
    model = tiny_model()
    walks = []
    original = VitoForPreTraining._online_and_target_pairs
    monkeypatch.setattr(
        VitoForPreTraining, "_online_and_target_pairs", lambda self: walks.append(1) or original(self)
    )
    for _ in range(5):
        model.update_target(0.99)
    assert len(walks) == 1


def test_moving_or_converting_the_model_rebuilds_the_lists():
    model = tiny_model()
    generator = torch.Generator().manual_seed(1)
    model.update_target(0.99)  # lists built for the float32, contiguous model
    for convert in (lambda m: m.to(memory_format=torch.channels_last), lambda m: m.to(torch.float64)):
        convert(model)
        perturb_online(model, generator)
        expected = reference_update(model, 0.9)
        model.update_target(0.9)
        after = target_state(model)
        for name, tensor in expected.items():
            assert torch.equal(after[name], tensor), name
