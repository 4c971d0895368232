#!/usr/bin/env python3
"""Writes PyTorch reference fixtures for the NeuralEngine tests (run by hand, not by CI).

    pip install torch numpy safetensors
    python3 Scripts/make_engine_fixtures.py

Writes into Tests/NeuralEngineTests/Fixtures:
  block.safetensors     conv3x3-BN-ReLU in training mode: input, parameters, output, the
                        upstream gradient r (loss = sum(y * r)), all gradients, running stats after
  sampling.safetensors  max-pool 2x2 then transposed conv 2x2 stride 2: same layout
  unet_step.safetensors tiny U-Net (1 in, 3 classes, width 4, depth 2), input (2, 1, 16, 16) and
                        target: initial state ("init."), logits and cross-entropy of the first
                        step, gradients ("grad."), the state after two AdamW steps (lr 1e-2,
                        weight decay 1e-2) ("after."), and eval-mode logits after them.
"""
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
from unet_reference import UNet, xavier_init  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "NeuralEngineTests", "Fixtures")


def save(name, tensors):
    path = os.path.join(OUT, name)
    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, path)
    print(f"{path}: {os.path.getsize(path)} bytes")


def block():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 6, 6, generator=g, requires_grad=True)
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    bn = torch.nn.BatchNorm2d(4)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(4, 3, 3, 3, generator=g) * 0.3)
        conv.bias.copy_(torch.randn(4, generator=g) * 0.1)
        bn.weight.copy_(1 + 0.2 * torch.randn(4, generator=g))
        bn.bias.copy_(0.2 * torch.randn(4, generator=g))
    params = {"conv.weight": conv.weight.clone(), "conv.bias": conv.bias.clone(),
              "bn.weight": bn.weight.clone(), "bn.bias": bn.bias.clone()}
    y = F.relu(bn(conv(x)))
    r = torch.randn(y.shape, generator=g)
    (y * r).sum().backward()
    save("block.safetensors", {
        "x": x, **params, "y": y, "r": r, "grad.x": x.grad,
        "grad.conv.weight": conv.weight.grad, "grad.conv.bias": conv.bias.grad,
        "grad.bn.weight": bn.weight.grad, "grad.bn.bias": bn.bias.grad,
        "bn.running_mean": bn.running_mean, "bn.running_var": bn.running_var})


def sampling():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 6, 6, generator=g, requires_grad=True)  # continuous: no ties
    up = torch.nn.ConvTranspose2d(3, 2, 2, stride=2)
    with torch.no_grad():
        up.weight.copy_(torch.randn(3, 2, 2, 2, generator=g) * 0.5)
        up.bias.copy_(torch.randn(2, generator=g) * 0.1)
    p = F.max_pool2d(x, 2)
    y = up(p)
    r = torch.randn(y.shape, generator=g)
    (y * r).sum().backward()
    save("sampling.safetensors", {
        "x": x, "up.weight": up.weight, "up.bias": up.bias, "pooled": p, "y": y, "r": r,
        "grad.x": x.grad, "grad.up.weight": up.weight.grad, "grad.up.bias": up.bias.grad})


def unet_step():
    torch.manual_seed(3)
    model = UNet(in_channels=1, classes=3, base_width=4, depth=2)
    xavier_init(model)
    with torch.no_grad():  # non-trivial BN affine parameters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    out = {f"init.{k}": v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 1, 16, 16, generator=g)
    target = torch.randint(0, 3, (2, 16, 16), generator=g)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)
    model.train()
    for step in range(2):
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, target)
        loss.backward()
        if step == 0:
            out["logits"] = logits
            out["loss"] = loss.reshape(1)
        prefix = "grad." if step == 0 else "grad2."
        out.update({f"{prefix}{k}": p.grad.clone() for k, p in model.named_parameters()})
        opt.step()
        if step == 0:
            out.update({f"step1.{k}": v.clone() for k, v in model.state_dict().items()})
    out.update({f"after.{k}": v.clone() for k, v in model.state_dict().items()})
    model.eval()
    with torch.no_grad():
        out["eval_logits"] = model(x)
    out["x"] = x
    out["target"] = target
    save("unet_step.safetensors", out)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    block()
    sampling()
    unet_step()
