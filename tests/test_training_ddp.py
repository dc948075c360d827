"""DistributedDataParallel on CPU: two processes with the gloo backend, tiny preset (what torchrun
does on GPUs: RANK / WORLD_SIZE / LOCAL_RANK / MASTER_* in the environment)."""

import os
import socket

import torch
import torch.multiprocessing as mp

from layout2im_core.training import checkpoints as ckpts
from layout2im_core.training.config import train_preset


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, run_dir: str, out_dir: str, data) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from layout2im_core.training.trainer import Trainer, destroy_process_group

    ds = data(n=8)
    trainer = Trainer(train_preset("tiny-test").replace(iterations=2), run_dir, dataset=ds,
                      vocabulary=ds.vocabulary, progress=False)
    result = trainer.run()
    torch.save({"params": {k: v.detach() for k, v in trainer.raw.G.named_parameters()},
                "D_img": {k: v.detach() for k, v in trainer.raw.D_img.named_parameters()},
                "step": result.step, "checkpoint": str(result.checkpoint)}, os.path.join(out_dir, f"rank{rank}.pt"))
    destroy_process_group()


def test_two_gloo_processes_train_in_lockstep(tmp_path, synthetic_layouts):
    run = tmp_path / "run"
    import torch._dynamo  # noqa: F401  (imported lazily by the optimisers: once here, not per process)

    # fork: the workers inherit the imported modules (seconds per process saved); they run
    # single-threaded, so the parent's OpenMP pool is never touched after the fork.
    mp.start_processes(_worker, args=(2, _free_port(), str(run), str(tmp_path), synthetic_layouts), nprocs=2, join=True,
                       start_method="fork")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2))
    assert r0["step"] == r1["step"] == 2
    for part in ("params", "D_img"):  # gradients were averaged: weights agree across ranks
        for k in r0[part]:
            assert torch.equal(r0[part][k], r1[part][k]), k
    # only rank 0 writes
    assert r1["checkpoint"] == "None" and r0["checkpoint"].endswith("step-00000002.pt")
    ck = ckpts.load_checkpoint(ckpts.latest_checkpoint(run))
    assert ck["world_size"] == 2 and len(ck["rng"]) == 2
    assert not torch.equal(ck["rng"][0]["torch"], ck["rng"][1]["torch"])  # each rank its own noise
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "command.json", "config.json", "directions.pt",
                                                     "samples", "tb"]
