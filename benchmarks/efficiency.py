"""Efficiency of every model preset: parameters, FLOPs, throughput, memory, achieved GFLOP/s.

    python benchmarks/efficiency.py [--quick] [--only PRESET ...] [--threads 2] [--batch 4]
        [--patch 128] [--infer 256] [--repeat 3] [--rounds 2] [--gemm 2048] [--clock wall|cpu]

Prints Markdown: one row per preset (EST-STFM's presets and ablations, the band-agnostic
presets, the deep baselines), the plain reference forward path of every EST-STFM preset named
by ``--compare`` beside its fast path (the code before the speed-up, for the before/after
ratios), Top-K vs dense attention and MFNN vs plain FFN side by side, and a hand count of the
FLOPs of one layer of each kind against torch's counter.

* FLOPs: ``torch.utils.flop_counter`` (multiply-adds x 2 of convolutions and matrix products;
  norms, softmax, top-k and elementwise ops are not counted) of the plain reference formulation,
  so the fast path is credited with the model's arithmetic, not with what it skips or adds.
  Training FLOPs per sample: forward + backward of one ``--patch`` sample, with the backward of
  convolutions counted as grad-input + grad-weight, each as many FLOPs as the forward (torch's
  own formula leaves the groups out of grad-weight and counts a depthwise conv's backward
  ``groups`` times too high: that is why its training total looked ~12x the forward).
* Training: samples/s of AdamW steps on ``--batch`` random ``--patch`` patches (channels-last, as
  ``est-stfm fit`` uses them). Inference: megapixels/s of one ``--infer`` square image, no grad.
  Times are the best of ``--repeat`` runs after one warm-up, best over ``--rounds`` alternating
  processes (the machine may be shared: the best run is the least disturbed one, and ratios
  measured side by side mean more than absolute numbers); ``--clock cpu`` counts CPU seconds
  instead of elapsed ones, which other processes disturb far less with ``--threads 1``.
* Peak memory: growth of the process's peak resident set over its size before the measurement
  (each preset and path runs in its own process): inference, then a training step.
* Achieved GFLOP/s: counted FLOPs / time, next to this machine's fp32 matrix product rate
  (``--gemm`` cubed, measured in the same run with the same threads).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from math import prod
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from est_stfm.models import count_parameters, create_model, list_models
from est_stfm.models.blocks import TSNBlock, use_reference

QUICK = ["est-stfm-small", "est-stfm-small-dense", "est-stfm-small-plainffn"]
CL = torch.channels_last
aten = torch.ops.aten


# ---------------------------------------------------------------- FLOPs


def _conv_fwd(x_shape: list[int], w_shape: list[int], out_shape: list[int]) -> int:
    """2 x multiply-adds of a (non-transposed) convolution; ``w_shape`` holds in/groups."""
    return 2 * out_shape[0] * prod(out_shape[2:]) * prod(w_shape)


def conv_backward_flops(
    grad_out_shape: list[int],
    x_shape: list[int],
    w_shape: list[int],
    *args: Any,
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    """Backward of a convolution: grad-input and grad-weight, each the forward's count."""
    output_mask = args[7]
    return sum(output_mask[:2]) * _conv_fwd(x_shape, w_shape, grad_out_shape)


def count_flops(fn: Callable[[], Any], corrected: bool = True) -> int:
    """FLOPs of ``fn()``, with :func:`conv_backward_flops` unless ``corrected`` is False."""
    mapping = {aten.convolution_backward: conv_backward_flops} if corrected else {}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return counter.get_total_flops()


def _train_pass(model: torch.nn.Module, x: list[torch.Tensor]) -> None:
    model.zero_grad(set_to_none=True)
    (model(*x[:3]) - x[3]).abs().mean().backward()


def model_flops(model: torch.nn.Module, patch: int, size: int) -> dict[str, int]:
    """Forward FLOPs per megapixel, training FLOPs per ``patch`` sample (corrected and as torch
    counts them), with the plain reference formulation where the model has one."""
    use_reference(model, True)
    x = [torch.rand(1, 6, patch, patch) for _ in range(4)]
    y = [torch.rand(1, 6, size, size) for _ in range(3)]
    with torch.no_grad():
        fwd = count_flops(lambda: model(*y))
        fwd_patch = count_flops(lambda: model(*x[:3]))
    train = count_flops(lambda: _train_pass(model, x))
    torch_train = count_flops(lambda: _train_pass(model, x), corrected=False)
    use_reference(model, False)
    return {
        "fwd_per_mpx": round(fwd / (size * size / 1e6)),
        "fwd_per_sample": fwd_patch,
        "train_per_sample": train,
        "torch_train_per_sample": torch_train,
    }


def hand_check(dim: int = 16, heads: int = 1, expansion: float = 2.0, side: int = 64) -> list:
    """(layer, kind, torch's count, hand count) for one TSN block's layers of each kind."""
    block = use_reference(TSNBlock(dim, heads, expansion=expansion), True)
    n = side * side
    x = torch.randn(1, dim, side, side)
    ffn, attn = block.ffn, block.attn
    hidden = ffn.fuse3.out_channels
    c = dim // heads
    with torch.no_grad():
        inner = ffn.project_in(x)
        pairs = torch.cat((inner[:, :hidden], inner[:, :hidden]), 1)
        q, k, v = attn.project_qkv(x)
        rows = [
            ("ffn.dw5", "depthwise 5x5", lambda: ffn.dw5(inner), 2 * n * 2 * hidden * 25),
            ("ffn.fuse3", "grouped 3x3, 2 in/group", lambda: ffn.fuse3(pairs), 4 * n * hidden * 9),
            ("ffn.project_in", "1x1", lambda: ffn.project_in(x), 4 * n * dim * hidden),
            ("attn.attend", "q k^T and P v", lambda: attn.attend(q, k, v), 4 * heads * c * c * n),
        ]
        return [(name, kind, count_flops(fn), hand) for name, kind, fn, hand in rows]


# ---------------------------------------------------------------- timing and memory


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def sgemm_gflops(n: int, repeat: int, clock: str = "wall") -> float:
    """Best fp32 ``n x n @ n x n`` rate, GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / _best(lambda: a @ b, repeat, clock) / 1e9


def _best(fn: Callable[[], Any], repeat: int, clock: str = "wall") -> float:
    """Best time of ``repeat`` calls after a warm-up, on the clock named (see ``--clock``)."""
    now = CLOCKS[clock]
    fn()
    times = []
    for _ in range(repeat):
        t = now()
        fn()
        times.append(now() - t)
    return min(times)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, reference: bool, args: argparse.Namespace) -> dict[str, Any]:
    """One preset, one path: memory, then best times (run in a fresh process)."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model(name).to(memory_format=CL)
    torch.nn.init.normal_(model.head.weight, std=1e-3)  # the zero head would skip backprop
    use_reference(model, reference)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6)
    gen = torch.Generator().manual_seed(0)

    def images(n: int, batch: int, side: int) -> list[torch.Tensor]:
        shape = (batch, 6, side, side)
        return [torch.rand(shape, generator=gen).contiguous(memory_format=CL) for _ in range(n)]

    x, y = images(4, args.batch, args.patch), images(3, 1, args.infer)

    def step() -> None:
        loss = (model(*x[:3]) - x[3]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    @torch.no_grad()
    def infer() -> None:
        model.eval()(*y)
        model.train()

    base = _rss_mb()
    infer()
    infer_mb = _peak_mb() - base
    step()
    train_mb = _peak_mb() - base
    return {
        "name": name,
        "reference": reference,
        "parameters": count_parameters(model),
        "infer_s": _best(infer, args.repeat, args.clock),
        "train_s": _best(step, args.repeat, args.clock),
        "infer_mb": infer_mb,
        "train_mb": train_mb,
    }


def _worker_main(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    name, path = args.worker
    print(json.dumps(measure(name, path == "reference", args)))


def _run_worker(name: str, reference: bool, argv: list[str]) -> dict[str, Any]:
    path = "reference" if reference else "fast"
    cmd = [sys.executable, __file__, *argv, "--worker", name, path]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# ---------------------------------------------------------------- report


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    ap.add_argument("--only", nargs="*", default=None, help="measure only these presets")
    ap.add_argument(
        "--compare",
        nargs="*",
        default=["est-stfm-small"],
        help="presets also measured on the plain reference path",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--infer", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2, help="alternating processes per path")
    ap.add_argument("--gemm", type=int, default=2048)
    ap.add_argument(
        "--clock",
        choices=list(CLOCKS),
        default="wall",
        help="wall: elapsed seconds; cpu: CPU seconds of the process (all threads), with "
        "--threads 1 the measure least disturbed by other processes on a shared machine",
    )
    ap.add_argument("--worker", nargs=2, metavar=("PRESET", "PATH"), help=argparse.SUPPRESS)
    return ap


def _has_reference(name: str) -> bool:
    model = create_model(name)
    return any(hasattr(m, "reference") for m in model.modules())


def main() -> None:
    args = _parser().parse_args()
    names = QUICK if args.quick else (args.only or list_models())
    unknown = sorted(set(names) - set(list_models()))
    if unknown:
        raise SystemExit(f"unknown presets {unknown}; available: {', '.join(list_models())}")
    compare = [n for n in args.compare if n in names and _has_reference(n)]
    keys = ("threads", "batch", "patch", "infer", "repeat", "clock")
    argv = [f"--{k}={getattr(args, k)}" for k in keys]
    torch.set_num_threads(args.threads)
    gemm = sgemm_gflops(args.gemm, args.repeat, args.clock)

    best: dict[tuple[str, bool], dict[str, Any]] = {}
    for _ in range(args.rounds):
        for name in names:
            for reference in (False, True) if name in compare else (False,):
                r = _run_worker(name, reference, argv)
                old = best.get((name, reference))
                if old is not None:
                    for key in ("infer_s", "train_s"):
                        r[key] = min(r[key], old[key])
                best[(name, reference)] = r
    gemm = max(gemm, sgemm_gflops(args.gemm, args.repeat, args.clock))
    flops = {}
    for name in names:
        torch.manual_seed(0)
        flops[name] = model_flops(create_model(name), args.patch, args.infer)
    _print_report(args, names, compare, best, flops, gemm)


def _row(label: str, r: dict[str, Any], f: dict[str, int], args: argparse.Namespace) -> str:
    sps = args.batch / r["train_s"]
    mpx = args.infer**2 / 1e6 / r["infer_s"]
    train_gf = f["train_per_sample"] * sps / 1e9
    infer_gf = f["fwd_per_mpx"] * mpx / 1e9
    return (
        f"| {label} | {r['parameters']:,} | {f['fwd_per_mpx'] / 1e9:.1f} "
        f"| {f['train_per_sample'] / 1e9:.2f} | {sps:.2f} | {mpx:.3f} | {train_gf:.1f} "
        f"| {infer_gf:.1f} | {r['train_mb']:.0f} | {r['infer_mb']:.0f} |"
    )


def _print_report(args, names, compare, best, flops, gemm) -> None:
    print(
        f"# {platform.processor() or platform.machine()}, {args.threads} of {os.cpu_count()} "
        f"threads, torch {torch.__version__}, {args.clock} clock; "
        f"fp32 sgemm {args.gemm}^3: {gemm:.1f} GFLOP/s"
    )
    print()
    print(
        f"| preset | parameters | forward GFLOP/Mpx | training GFLOP/sample ({args.patch}px) "
        f"| train samples/s (batch {args.batch}) | infer Mpx/s ({args.infer}px) "
        "| train GFLOP/s | infer GFLOP/s | train peak MB | infer peak MB |"
    )
    print("|---|" + "---:|" * 9)
    for name in names:
        print(_row(name, best[(name, False)], flops[name], args))
        if name in compare:
            print(_row(f"{name} (reference path)", best[(name, True)], flops[name], args))
    print()
    print("Speed-ups and ablations, measured side by side in this run:")
    print()
    for name in compare:
        fast, ref = best[(name, False)], best[(name, True)]
        print(
            f"- {name}: fast / reference path: training x{ref['train_s'] / fast['train_s']:.2f}, "
            f"inference x{ref['infer_s'] / fast['infer_s']:.2f}, "
            f"training peak memory x{fast['train_mb'] / max(ref['train_mb'], 1):.2f}"
        )
    pairs = [
        ("est-stfm-small-dense", "Top-K vs dense attention"),
        ("est-stfm-small-plainffn", "MFNN vs plain FFN"),
    ]
    small = best.get(("est-stfm-small", False))
    for other, what in pairs:
        if small is not None and (other, False) in best:
            o = best[(other, False)]
            print(
                f"- {what} (est-stfm-small / {other}): time per training step "
                f"x{small['train_s'] / o['train_s']:.2f}, per inference "
                f"x{small['infer_s'] / o['infer_s']:.2f}, forward FLOPs "
                f"x{flops['est-stfm-small']['fwd_per_mpx'] / flops[other]['fwd_per_mpx']:.2f}"
            )
    print()
    name = "est-stfm-small" if "est-stfm-small" in names else names[0]
    f = flops[name]
    print(
        f"torch's own counter, {name}: training {f['torch_train_per_sample'] / 1e9:.2f} "
        f"GFLOP/sample = {f['torch_train_per_sample'] / f['fwd_per_sample']:.1f} x forward; "
        f"with grouped-conv backward counted correctly {f['train_per_sample'] / 1e9:.2f} = "
        f"{f['train_per_sample'] / f['fwd_per_sample']:.2f} x forward"
    )
    print()
    print("| layer (TSN block, 16 channels, 64x64) | kind | torch's counter | hand count |")
    print("|---|---|---:|---:|")
    for layer, kind, counted, hand in hand_check():
        print(f"| {layer} | {kind} | {counted:,} | {hand:,} |")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        _worker_main(sys.argv[1:])
    else:
        main()
