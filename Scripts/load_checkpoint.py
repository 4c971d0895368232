#!/usr/bin/env python3
"""Loads a segvol NeuralEngine checkpoint into the PyTorch reference U-Net (run by hand).

    python3 Scripts/load_checkpoint.py model.safetensors --classes 20 --width 32 --depth 4

Fails loudly (strict load_state_dict) when names or shapes differ.
"""
import argparse
import os
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(__file__))
from unet_reference import UNet  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("path")
parser.add_argument("--in-channels", type=int, default=1)
parser.add_argument("--classes", type=int, default=20)
parser.add_argument("--width", type=int, default=32)
parser.add_argument("--depth", type=int, default=4)
args = parser.parse_args()
model = UNet(args.in_channels, args.classes, args.width, args.depth)
state = load_file(args.path)
model.load_state_dict(state, strict=True)
n = sum(p.numel() for p in model.parameters())
print(f"loaded {len(state)} tensors, {n} parameters; num_batches_tracked dtype {state['enc.0.1.num_batches_tracked'].dtype}")
model.eval()
with torch.no_grad():
    print("eval output shape", tuple(model(torch.zeros(1, args.in_channels, 1 << (args.depth + 1), 1 << (args.depth + 1))).shape))
