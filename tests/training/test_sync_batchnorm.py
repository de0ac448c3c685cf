"""The all-reduce batch norm: plain `nn.BatchNorm` with one process, the full-batch statistics (values,
gradients, running statistics) with two gloo processes on CPU, and unchanged state-dict keys."""

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from vito_hf.training.sync_batchnorm import AllReduceBatchNorm1d, AllReduceBatchNorm2d, convert_sync_batchnorm


def make_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 6 * 6, 8), nn.BatchNorm1d(8)
    )


def batch() -> torch.Tensor:
    return torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 3 + 1


def test_conversion_keeps_parameters_keys_and_class_family():
    net = make_net()
    params_before = list(net.parameters())
    keys_before = list(net.state_dict())
    converted = convert_sync_batchnorm(net)
    assert converted is net
    assert isinstance(net[1], AllReduceBatchNorm2d) and isinstance(net[1], nn.BatchNorm2d)
    assert isinstance(net[5], AllReduceBatchNorm1d) and isinstance(net[5], nn.BatchNorm1d)
    assert all(a is b for a, b in zip(net.parameters(), params_before))
    assert list(net.state_dict()) == keys_before
    plain = make_net()
    plain.load_state_dict(net.state_dict())


def test_single_process_is_exactly_plain_batch_norm():
    plain, synced = make_net(), convert_sync_batchnorm(make_net())
    x = batch()
    out_plain, out_synced = plain(x), synced(x)
    assert torch.equal(out_plain, out_synced)
    out_plain.square().sum().backward()
    out_synced.square().sum().backward()
    for a, b in zip(plain.parameters(), synced.parameters()):
        assert torch.equal(a.grad, b.grad)
    for a, b in zip(plain.buffers(), synced.buffers()):
        assert torch.equal(a, b)


def _worker(rank: int, world_size: int, init_file: str, results: dict) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        net = convert_sync_batchnorm(make_net())
        x = batch().chunk(world_size)[rank].clone().requires_grad_(True)
        out = net(x)
        out.square().sum().backward()
        grads = [p.grad.clone() for p in net.parameters()]
        for grad in grads:
            dist.all_reduce(grad)  # the full-batch loss is the sum of the two local sums
        results[rank] = {
            "out": out.detach(),
            "input_grad": x.grad,
            "grads": grads,
            "buffers": [b.clone() for b in net.buffers()],
        }
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_equal_one_process_with_the_whole_batch(tmp_path):
    world_size = 2
    with mp.Manager() as manager:
        results = manager.dict()
        # spawn, not fork: a forked child of a process that already ran OpenMP kernels can deadlock.
        mp.spawn(_worker, args=(world_size, str(tmp_path / "init"), results), nprocs=world_size)
        results = dict(results)

    reference = make_net()
    x = batch().requires_grad_(True)
    out = reference(x)
    out.square().sum().backward()
    assert torch.allclose(torch.cat([results[r]["out"] for r in range(world_size)]), out, atol=1e-5)
    assert torch.allclose(torch.cat([results[r]["input_grad"] for r in range(world_size)]), x.grad, atol=1e-4)
    for rank in range(world_size):
        for grad, expected in zip(results[rank]["grads"], (p.grad for p in reference.parameters())):
            assert torch.allclose(grad, expected, rtol=1e-4, atol=1e-3)
        for buffer, expected in zip(results[rank]["buffers"], reference.buffers()):
            assert torch.allclose(buffer.float(), expected.float(), rtol=1e-5, atol=1e-5)
