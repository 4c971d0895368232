"""The PyTorch module whose state_dict matches segvol's NeuralEngine U-Net name for name.

Kept identical to the listing in docs/unet_pytorch.md. Run by hand only (needs torch).
"""
import torch
import torch.nn as nn


def double_conv(cin: int, cout: int) -> nn.Sequential:
    # indices 0, 1, 3, 4 carry state: conv .0/.3 (OIHW weight, bias), batch norm .1/.4
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, in_channels=1, classes=20, base_width=32, depth=4, dropout=0.0):
        super().__init__()
        w = [base_width << i for i in range(depth + 1)]
        self.enc = nn.ModuleList(
            double_conv(in_channels if i == 0 else w[i - 1], w[i]) for i in range(depth))
        self.bottleneck = double_conv(w[depth - 1], w[depth])
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.up = nn.ModuleList(nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in range(depth))
        self.dec = nn.ModuleList(double_conv(2 * w[i], w[i]) for i in range(depth))
        self.head = nn.Conv2d(w[0], classes, 1)

    def forward(self, x):
        skips = []
        for enc in self.enc:
            x = enc(x)
            skips.append(x)
            x = nn.functional.max_pool2d(x, 2)
        x = self.drop(self.bottleneck(x))
        for i in reversed(range(len(self.up))):
            x = self.dec[i](torch.cat([skips[i], self.up[i](x)], dim=1))
        return self.head(x)


def xavier_init(model: nn.Module) -> None:
    """The engine's initialisation: Xavier-uniform conv weights, zero biases, BN 1/0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
