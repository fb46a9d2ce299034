"""Parameters, training-step time and inference time of every model preset on this machine.

    python benchmarks/model_speed.py [--batch 4] [--patch 96] [--infer 256] [--repeat 3]
        [--only PRESET ...] [--skip PRESET ...] [--threads N] [--device cuda]

Prints a Markdown table. Times are medians over ``--repeat`` runs after one warm-up, with
channels-last tensors (as ``est-stfm fit`` and ``predict`` use them) and all CPU threads unless
``--threads`` says otherwise. ``--device cuda``: on the GPU, under bf16 autocast (as ``fit``
trains there), each timing ended by a device synchronisation. Every registry preset is timed:
EST-STFM, its ablations and the deep baselines (EDCSTFN, SwinSTFM); ``--only`` restricts the
run to the named presets.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import time

import torch

from est_stfm.models import create_model, list_models


def _median_time(fn, repeat: int, sync=lambda: None) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--patch", type=int, default=96)
    ap.add_argument("--infer", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=[], help="presets to skip")
    ap.add_argument("--only", nargs="*", default=None, help="time only these presets")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = ap.parse_args()
    dev = torch.device(args.device)
    gpu = dev.type == "cuda"
    sync = torch.cuda.synchronize if gpu else lambda: None
    autocast = (
        (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if gpu else contextlib.nullcontext
    )
    names = list_models() if args.only is None else args.only
    unknown = sorted(set(names) - set(list_models()))
    if unknown:
        ap.error(f"unknown presets {unknown}; available: {', '.join(list_models())}")
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    cl = torch.preserve_format if gpu else torch.channels_last
    cpu = platform.processor() or platform.machine()
    where = (
        torch.cuda.get_device_name(dev) + ", bf16 autocast"
        if gpu
        else f"{cpu}, {threads} of {os.cpu_count()} CPU threads"
    )
    print(f"# {where}, torch {torch.__version__}")
    print(
        f"| preset | parameters | train step (batch {args.batch}, {args.patch}px) "
        f"| samples/s | predict {args.infer}x{args.infer} |"
    )
    print("|---|---:|---:|---:|---:|")
    for name in names:
        if name in args.skip:
            continue
        torch.manual_seed(0)
        model = create_model(name).to(dev, memory_format=cl)
        torch.nn.init.normal_(model.head.weight, std=1e-3)  # the zero head would skip backprop
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        x = [
            torch.rand(args.batch, 6, args.patch, args.patch, device=dev).contiguous(
                memory_format=cl
            )
            for _ in range(4)
        ]

        def step(model=model, opt=opt, x=x) -> None:
            with autocast():
                loss = (model(x[0], x[1], x[2]) - x[3]).float().abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        y = [
            torch.rand(1, 6, args.infer, args.infer, device=dev).contiguous(memory_format=cl)
            for _ in range(3)
        ]

        @torch.no_grad()
        def infer(model=model, y=y) -> None:
            with autocast():
                model.eval()(*y)
            model.train()

        t_step = _median_time(step, args.repeat, sync)
        t_inf = _median_time(infer, args.repeat, sync)
        n = sum(p.numel() for p in model.parameters())
        print(f"| {name} | {n:,} | {t_step:.2f} s | {args.batch / t_step:.1f} | {t_inf:.2f} s |")


if __name__ == "__main__":
    main()
