"""The gathered-negatives loss across processes equals the single-process loss on the global batch
(2 real gloo processes), including its gradient: the bug class that hit lightly's gather twice."""

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vito_hf.modeling_vito import gather_across_processes, multi_view_info_nce

BATCH, VIEWS, DIM, TEMPERATURE = 4, 3, 8, 0.1


def _data():
    generator = torch.Generator().manual_seed(0)
    online = torch.randn(2 * BATCH, VIEWS, DIM, generator=generator)
    target = torch.randn(2 * BATCH, VIEWS, DIM, generator=generator)
    return online, target


def _worker(rank: int, init_file: str, results: str, sizes: tuple[int, int]) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    online, target = _data()
    start = 0 if rank == 0 else sizes[0]
    rows = slice(start, start + sizes[rank])
    local_online = online[rows].clone().requires_grad_(True)
    loss = multi_view_info_nce(local_online, target[rows], TEMPERATURE)
    loss.backward()
    gathered, offset = gather_across_processes(target[rows])
    torch.save({"loss": loss.detach(), "grad": local_online.grad, "gathered": gathered, "offset": offset}, f"{results}.{rank}")
    dist.destroy_process_group()


def _run(tmp_path, sizes):
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path / "out"), sizes), nprocs=2, join=True)
    return [torch.load(tmp_path / f"out.{rank}") for rank in range(2)]


def test_two_processes_equal_one_process_with_the_global_batch(tmp_path):
    ranks = _run(tmp_path, (BATCH, BATCH))
    online, target = _data()
    online.requires_grad_(True)
    global_loss = multi_view_info_nce(online, target, TEMPERATURE)
    global_loss.backward()
    # Data-parallel training averages the per-process losses and gradients.
    torch.testing.assert_close((ranks[0]["loss"] + ranks[1]["loss"]) / 2, global_loss.detach())
    torch.testing.assert_close(ranks[0]["grad"] / 2, online.grad[:BATCH])
    torch.testing.assert_close(ranks[1]["grad"] / 2, online.grad[BATCH:])
    assert [r["offset"] for r in ranks] == [0, BATCH]


def test_gather_handles_unequal_batches(tmp_path):
    ranks = _run(tmp_path, (3, 5))
    online, target = _data()
    for rank in ranks:
        torch.testing.assert_close(rank["gathered"], target)
    assert [r["offset"] for r in ranks] == [0, 3]
    # Rank 1's clips are positives at rows 3..7 of the gathered targets.
    normalize = torch.nn.functional.normalize
    logits = torch.einsum("bid,njd->ijbn", normalize(online[3:], dim=-1), normalize(target, dim=-1)) / TEMPERATURE
    labels = torch.arange(3, 8).repeat(VIEWS * VIEWS)
    per_pair = torch.nn.functional.cross_entropy(logits.flatten(0, 2), labels, reduction="none").view(VIEWS, VIEWS, 5)
    expected_loss = per_pair.mean(-1)[~torch.eye(VIEWS, dtype=torch.bool)].sum()
    torch.testing.assert_close(ranks[1]["loss"], expected_loss)
