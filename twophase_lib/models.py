"""The networks of the paper (ResNet-20 and VGG-16 with batch norm, CIFAR variants), a small vision transformer
and a small MLP.

Each takes a width multiplier so the ``cpu`` profile can train narrower copies. The CNNs follow
open_lth's CIFAR models: ResNet-20 with 16/32/64 channels, 3 basic blocks per stage and
1x1-convolution shortcuts where the shape changes; VGG-16 with batch norm and a 512->10 head.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from .config import ModelConfig, check_choice
from .data import derive_seed


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection (1x1 conv + BN when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNetCifar(nn.Module):
    """ResNet-(6n+2) for CIFAR; n=3 is ResNet-20 (0.27 M parameters at width 1)."""

    def __init__(self, blocks_per_stage: int = 3, width: float = 1.0, num_classes: int = 10):
        super().__init__()
        widths = [_scaled(c, width) for c in (16, 32, 64)]
        self.conv = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(widths[0])
        layers, c_in = [], widths[0]
        for stage, c_out in enumerate(widths):
            for b in range(blocks_per_stage):
                layers.append(BasicBlock(c_in, c_out, 2 if stage > 0 and b == 0 else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn(self.conv(x)))
        out = self.blocks(out)
        out = out.mean(dim=(2, 3))  # global average pool (deterministic backward on GPU)
        return self.fc(out)


VGG16_PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


class VGGCifar(nn.Module):
    """VGG-16 with batch norm for 32x32 inputs: 13 conv-BN-ReLU layers, 4 max-pools, global pool, 512->10 head."""

    def __init__(self, plan: tuple = VGG16_PLAN, width: float = 1.0, num_classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for item in plan:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                c_out = _scaled(item, width)
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
                c_in = c_out
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.features(x)
        out = out.mean(dim=(2, 3))  # global average pool (deterministic backward on GPU)
        return self.fc(out)


class MLP(nn.Module):
    """A two-hidden-layer ReLU perceptron on flattened images, for quick tests."""

    def __init__(self, width: float = 1.0, num_classes: int = 10, in_features: int = 3 * 32 * 32):
        super().__init__()
        h = _scaled(256, width)
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(in_features, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ViTBlock(nn.Module):
    """A pre-LN transformer block: multi-head self-attention, then a GELU MLP, each with a residual connection.

    The attention is written out (no fused kernel) so that ``torch.func`` transforms (eNTK, linearization) and
    deterministic CPU kernels apply to it as to any other layer.
    """

    def __init__(self, dim: int, heads: int, hidden: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"the width {dim} must be a multiple of the heads {heads}")
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def attention(self, h: torch.Tensor) -> torch.Tensor:
        """Scaled dot-product self-attention over the tokens of h (batch, tokens, dim)."""
        b, n, d = h.shape
        q, k, v = self.qkv(h).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, n, d))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h + self.attention(self.norm1(h))
        return h + self.mlp(self.norm2(h))


class ViT(nn.Module):
    """A small vision transformer (Dosovitskiy et al. 2021) for 32x32 images: 4x4 patches (64 tokens) embedded
    linearly, a class token and learned position embeddings, ``depth`` pre-LN blocks, the class token through a final
    LayerNorm to a linear head. At width 1: dimension 192 in 3 heads of 64 (ViT-Tiny's), MLP 384, 6 blocks (half of
    ViT-Tiny's 12); narrower copies keep heads of 32 dimensions. Weights ~ N(0, 0.02²) truncated at ±2σ, biases 0.

    Input (batch, 3, image_size, image_size); output (batch, num_classes) logits.
    """

    def __init__(self, width: float = 1.0, num_classes: int = 10, depth: int = 6, patch: int = 4,
                 image_size: int = 32):
        super().__init__()
        heads = max(1, _scaled(192, width) // 32) if width < 1 else 3
        dim = heads * (32 if width < 1 else 64)
        self.patch = nn.Conv2d(3, dim, patch, patch)
        tokens = (image_size // patch) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.position = nn.Parameter(torch.zeros(1, tokens + 1, dim))
        self.blocks = nn.Sequential(*[ViTBlock(dim, heads, 2 * dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        for p in (self.cls, self.position):
            nn.init.trunc_normal_(p, std=0.02, a=-0.04, b=0.04)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.patch(x).flatten(2).transpose(1, 2)  # (batch, tokens, dim)
        h = torch.cat([self.cls.expand(len(h), -1, -1), h], 1) + self.position
        return self.head(self.norm(self.blocks(h))[:, 0])


MODELS: dict[str, Callable[[ModelConfig], nn.Module]] = {
    "resnet20": lambda c: ResNetCifar(3, c.width, c.num_classes),
    "vgg16": lambda c: VGGCifar(VGG16_PLAN, c.width, c.num_classes),
    "mlp": lambda c: MLP(c.width, c.num_classes),
    "vit": lambda c: ViT(c.width, c.num_classes),
}


def register_model(name: str, factory: Callable[[ModelConfig], nn.Module]) -> None:
    """Make ``factory`` (ModelConfig -> nn.Module) available as ``ModelConfig(name=name)``."""
    MODELS[name] = factory


def build_model(
    cfg: ModelConfig, seed: int = 0, device: str | torch.device = "cpu", dtype: str = "float32"
) -> nn.Module:
    """Instantiate the registered architecture ``cfg.name`` with initial weights drawn from ``seed``."""
    check_choice(cfg.name, sorted(MODELS), "model")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed("init", seed))
        model = MODELS[cfg.name](cfg)
        if cfg.bn_init == "uniform":  # open_lth's ResNet initialisation: γ ~ U(0, 1)
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None:
                    nn.init.uniform_(m.weight)
    return model.to(device=device, dtype=getattr(torch, dtype))


def count_parameters(model: nn.Module) -> int:
    """Number of parameters training moves (``requires_grad``; a tied tensor counted once, frozen ones not)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
