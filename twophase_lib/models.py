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

from .config import ModelConfig, RunConfig, check_choice
from .data import derive_seed


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


#: Input channels (per group) below which oneDNN's 1×1 strided convolution is unsafe in channels-last on a CPU, as its
#: ``jit_1x1`` backward-weights kernel copies the strided input to a unit-stride workspace ("rtus") and writes past
#: it when the input channels are fewer than its channel block (8 with AVX2, 16 with AVX-512): a crash, a hang, or
#: silently wrong weight gradients, depending on the machine (uxlfoundation/oneDNN#6035, open; oneDNN 3.12 in torch
#: 2.14.1). Seen here: ResNet-20 ×1/4's 4→8 shortcut aborts with "double free or corruption" on an AMD AVX2 CPU.
ONEDNN_RTUS_CHANNELS = 16


class PointwiseConv2d(nn.Conv2d):
    """A 1×1 convolution (no padding) whose stride is taken by subsampling its input first, then convolving at unit
    stride: the same function as ``nn.Conv2d(c_in, c_out, 1, stride)`` and the same parameters (``weight`` of shape
    (c_out, c_in / groups, 1, 1), ``bias``), computed without oneDNN's strided 1×1 path (see
    :data:`ONEDNN_RTUS_CHANNELS`). Where that path is correct (input channels at least the channel block) the two
    agree to rounding, but not always bitwise (oneDNN splits the weight gradient's sum by batch size, seen at batch 6,
    not at 16 or 128; ``tests/test_data_models.py``): results of networks built with it are cached under a new
    :data:`twophase_lib.config.CACHE_VERSION`, never mixed with those computed before.

    Args:
        c_in, c_out: input and output channels. stride: an int or a pair (rows, columns). bias, groups: as
            ``nn.Conv2d``'s.
    """

    def __init__(self, c_in: int, c_out: int, stride: int | tuple[int, int] = 1, bias: bool = True,
                 groups: int = 1):
        super().__init__(c_in, c_out, 1, stride, 0, bias=bias, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, c_in, H, W) -> (N, c_out, ceil(H / stride), ceil(W / stride))."""
        sh, sw = self.stride
        if (sh, sw) == (1, 1):
            return super().forward(x)
        return nn.functional.conv2d(x[..., ::sh, ::sw], self.weight, self.bias, 1, 0, 1, self.groups)


def unsafe_strided_pointwise_convs(model: nn.Module) -> list[str]:
    """The names of ``model``'s 1×1 convolutions with a stride above 1 and fewer than :data:`ONEDNN_RTUS_CHANNELS`
    input channels per group that would run through oneDNN's unsafe strided 1×1 path in channels-last on a CPU
    (plain ``nn.Conv2d``; a :class:`PointwiseConv2d` is safe)."""
    return [name for name, m in model.named_modules()
            if type(m) is nn.Conv2d and m.kernel_size == (1, 1) and m.stride != (1, 1) and m.padding == (0, 0)
            and m.dilation == (1, 1) and m.in_channels // m.groups < ONEDNN_RTUS_CHANNELS]


def use_pointwise_subsampling(model: nn.Module) -> nn.Module:
    """``model`` with each convolution :func:`unsafe_strided_pointwise_convs` names replaced, in place, by a
    :class:`PointwiseConv2d` holding the same parameter objects (an optimiser built before keeps them): the same
    function, computed safely. Returns the model."""
    for name in unsafe_strided_pointwise_convs(model):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        old = getattr(parent, child)
        new = PointwiseConv2d(old.in_channels, old.out_channels, old.stride, old.bias is not None, old.groups)
        new.weight, new.bias = old.weight, old.bias
        new.train(old.training)
        setattr(parent, child, new)
    return model


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
            self.shortcut = nn.Sequential(PointwiseConv2d(c_in, c_out, stride, bias=False), nn.BatchNorm2d(c_out))

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
    cfg: ModelConfig | RunConfig, seed: int = 0, device: str | torch.device = "cpu", dtype: str = "float32"
) -> nn.Module:
    """Instantiate the registered architecture ``cfg.name`` with initial weights drawn from ``seed``.

    Given a whole run (``RunConfig``), its network at initialisation: the task's for a
    :class:`~twophase_lib.task.Task` run (whose ``run.model`` is the unused default, a ResNet-20), the registered
    one otherwise; ``seed`` and ``dtype`` are then the run's (``twophase_lib.task.run_model``).

    Raises:
        ValueError: an unregistered name.
        TypeError: ``cfg`` is neither a ModelConfig nor a RunConfig.
    """
    if isinstance(cfg, RunConfig):
        from .task import run_model

        return run_model(cfg, device)
    if not isinstance(cfg, ModelConfig):
        raise TypeError(f"build_model takes a ModelConfig or a RunConfig, got {type(cfg).__name__}")
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
