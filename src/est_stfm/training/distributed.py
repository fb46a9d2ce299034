"""Data-parallel training with PyTorch's own engine (``torchrun`` + DistributedDataParallel).

``torchrun --nproc_per_node=N -m est_stfm fit ...`` starts N processes; each reads the
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` variables torchrun sets, joins a process group (gloo on
CPU, NCCL on GPUs), trains on its share of every epoch's samples (``DistributedSampler``), and
DDP averages the gradients, so all ranks hold the same weights after every step. Only rank 0
writes files. Without those variables (a plain ``est-stfm fit``) everything here is a no-op.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Runtime:
    """This process's place in the run and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def start_runtime() -> Runtime:
    """Join the process group torchrun describes (if any) and pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return Runtime(rank, world, local, device)


def stop_runtime(runtime: Runtime) -> None:
    """Leave the process group."""
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()


def agree(runtime: Runtime, flag: bool) -> bool:
    """True on every rank if ``flag`` is true on rank 0 (ranks must stop at the same step)."""
    if not runtime.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=runtime.device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer, in order (equal weights, equal digest)."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def gather_digests(runtime: Runtime, model: torch.nn.Module) -> list[str]:
    """Every rank's :func:`weights_digest`, in rank order."""
    digest = weights_digest(model)
    if not runtime.distributed:
        return [digest]
    out: list[str | None] = [None] * runtime.world_size
    dist.all_gather_object(out, digest)
    return [str(d) for d in out]
