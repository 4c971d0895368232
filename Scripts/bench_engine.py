#!/usr/bin/env python3
"""Times the reference U-Net in PyTorch (NCHW and channels_last) and ONNX Runtime, when installed,
on the same shapes as `segvol bench engine`, so the engine's ratios come from one run.

    pip install torch onnx onnxruntime
    python3 Scripts/bench_engine.py --widths 16 32 --size 256 --batch 8 --threads 2 \\
        [--rounds 3] [--nchw] [--segvol "segvol bench engine"]

Prints per width: ms per slice for inference and one training step (forward, cross-entropy,
backward, Adam), medians of --repeats runs after a warm-up. With --segvol the command is run
per width right after the peers (`CMD --widths W`), and with --rounds R the whole sequence is
repeated R times, interleaved, and a table of medians and per-round ratios (segvol / ONNX
Runtime, segvol / PyTorch channels_last) ends the output: on a shared, noisy machine the
ratios of runs taken in the same minute are what to compare. Run by hand, never by CI.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from unet_reference import UNet, xavier_init  # noqa: E402


def median_ms(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def bench_torch(width, size, batch, classes, repeats, channels_last):
    model = UNet(1, classes, width, 4)
    xavier_init(model)
    x = torch.randn(batch, 1, size, size)
    target = torch.randint(0, classes, (batch, size, size))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = x.contiguous(memory_format=fmt)
    model.eval()

    def infer():
        with torch.inference_mode():
            model(x)

    infer_ms = median_ms(infer, repeats) / batch
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), target).backward()
        opt.step()

    train_ms = median_ms(step, repeats) / batch
    return infer_ms, train_ms


def bench_onnx(width, size, batch, classes, repeats, threads):
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    model = UNet(1, classes, width, 4).eval()
    xavier_init(model)
    x = torch.randn(batch, 1, size, size)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "unet.onnx")
        try:  # the TorchScript exporter needs no onnxscript; newer torch versions default to dynamo
            torch.onnx.export(model, x, path, input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)
        except TypeError:
            torch.onnx.export(model, x, path, input_names=["x"], output_names=["y"], opset_version=17)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        feed = {"x": x.numpy()}
        return median_ms(lambda: sess.run(None, feed), repeats) / batch


def run_segvol(cmd, width):
    """segvol's figures for one width: (infer ms, train ms, infer RSS GiB, train RSS GiB) or None."""
    out = subprocess.run(f"{cmd} --widths {width}", shell=True, capture_output=True, text=True).stdout
    m = re.search(r"inference ([0-9.]+) ms/slice.*train step ([0-9.]+) ms/slice.*"
                  r"peak RSS inference ([0-9.]+) GiB, training ([0-9.]+) GiB", out)
    if not m:
        print(out)
        return None
    return tuple(float(g) for g in m.groups())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--widths", type=int, nargs="+", default=[16, 32])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--classes", type=int, default=20)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rounds", type=int, default=1,
                   help="interleaved rounds (peers then segvol, per width); medians and ratios at the end")
    p.add_argument("--nchw", action="store_true", help="also time PyTorch NCHW (slow to train)")
    p.add_argument("--segvol", help="segvol's engine benchmark command (given --widths W per width)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    rows = {w: [] for w in a.widths}
    for r in range(a.rounds):
        for w in a.widths:
            nchw = bench_torch(w, a.size, a.batch, a.classes, a.repeats, False) if a.nchw else (float("nan"),) * 2
            cl = bench_torch(w, a.size, a.batch, a.classes, a.repeats, True)
            onnx = bench_onnx(w, a.size, a.batch, a.classes, a.repeats, a.threads)
            eng = run_segvol(a.segvol, w) if a.segvol else None
            print(f"round {r + 1} width {w} @{a.size} batch {a.batch}, {a.threads} threads: "
                  f"PyTorch infer {cl[0]:.1f} (channels_last) / {nchw[0]:.1f} (NCHW) ms/slice, "
                  f"train step {cl[1]:.1f} / {nchw[1]:.1f} ms/slice; "
                  + (f"ONNX Runtime infer {onnx:.1f} ms/slice" if onnx is not None else "ONNX Runtime not installed")
                  + (f"; segvol infer {eng[0]:.1f}, train {eng[1]:.1f} ms/slice, peak RSS {eng[2]:.2f} / {eng[3]:.2f} GiB"
                     if eng else ""), flush=True)
            rows[w].append((cl, onnx, eng))
    if not a.segvol:
        return
    print("\nmedians over rounds; ratios = segvol / peer (below 1: segvol faster)")
    print("| width | segvol infer | ONNX infer | PyTorch-CL infer | infer ÷ ONNX | infer ÷ PyTorch-CL "
          "| segvol train | PyTorch-CL train | train ÷ PyTorch-CL | peak RSS infer / train GiB |")
    for w in a.widths:
        got = [(cl, onnx, eng) for cl, onnx, eng in rows[w] if eng and onnx is not None]
        if not got:
            continue
        med = statistics.median
        ei, et = med(e[0] for _, _, e in got), med(e[1] for _, _, e in got)
        oi = med(o for _, o, _ in got)
        ci, ct = med(c[0] for c, _, _ in got), med(c[1] for c, _, _ in got)
        # per-round ratios (same minute), then their median: steadier than a ratio of medians
        ri_o = med(e[0] / o for _, o, e in got)
        ri_c = med(e[0] / c[0] for c, _, e in got)
        rt_c = med(e[1] / c[1] for c, _, e in got)
        rss = med(e[2] for _, _, e in got), med(e[3] for _, _, e in got)
        print(f"| {w} | {ei:.1f} | {oi:.1f} | {ci:.1f} | {ri_o:.2f} | {ri_c:.2f} | {et:.1f} | {ct:.1f} | {rt_c:.2f} "
              f"| {rss[0]:.2f} / {rss[1]:.2f} |")


if __name__ == "__main__":
    main()
