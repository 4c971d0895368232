#!/usr/bin/env python3
"""Times the reference U-Net in PyTorch (NCHW and channels_last) and ONNX Runtime, when installed,
on the same shapes as `segvol bench engine`, so the engine's ratios come from one run.

    pip install torch onnx onnxruntime
    python3 Scripts/bench_engine.py --widths 16 32 --size 256 --batch 8 --threads 2 \\
        [--segvol "segvol bench engine"]

Prints per width: ms per slice for inference and one training step (forward, cross-entropy,
backward, Adam), medians of --repeats runs after a warm-up. With --segvol the command is run
too (its output is printed as is) so the numbers sit side by side. Run by hand, never by CI.
"""
import argparse
import os
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--widths", type=int, nargs="+", default=[16, 32])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--classes", type=int, default=20)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--segvol", help="command that prints segvol's engine benchmark")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    for w in a.widths:
        nchw = bench_torch(w, a.size, a.batch, a.classes, a.repeats, False)
        cl = bench_torch(w, a.size, a.batch, a.classes, a.repeats, True)
        onnx = bench_onnx(w, a.size, a.batch, a.classes, a.repeats, a.threads)
        print(f"width {w} @{a.size} batch {a.batch}, {a.threads} threads: "
              f"PyTorch infer {cl[0]:.1f} (channels_last) / {nchw[0]:.1f} (NCHW) ms/slice, "
              f"train step {cl[1]:.1f} / {nchw[1]:.1f} ms/slice; "
              + (f"ONNX Runtime infer {onnx:.1f} ms/slice" if onnx is not None else "ONNX Runtime not installed"))
    if a.segvol:
        print(subprocess.run(a.segvol, shell=True, capture_output=True, text=True).stdout)


if __name__ == "__main__":
    main()
