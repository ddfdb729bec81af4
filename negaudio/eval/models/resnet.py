"""ResNet-18 trunks in plain torch with the parameter names of the authors' checkpoints.

``ResNet18``: torchvision's names (conv1, bn1, layer1..layer4), the trunk of EZ-VSL, SLAVC, FNAC and of the
object-guided (OGL) saliency model. ``LvsResNet18``: the variant LVS, SSL-Align and SSL-TIE build on, which holds
three stems (``conv1`` RGB, ``conv1_a`` 1-channel audio, ``conv1_flow`` 6-channel), a ``fc`` classifier it never
uses, and a last stage with stride 1 (14x14 features for a 224x224 image).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a residual connection (1x1 projection when the shape changes)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    """ResNet-18 trunk without pooling or classifier: [B, C, H, W] -> features [B, 512, H/32, W/32]."""

    def __init__(self, in_channels: int = 3, last_stride: int = 2):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        inplanes = 64
        for i, (planes, stride) in enumerate(((64, 1), (128, 2), (256, 2), (512, last_stride)), start=1):
            setattr(self, f"layer{i}", nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes)))
            inplanes = planes

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.stem(x))), 3, 2, 1)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class LvsResNet18(ResNet18):
    """LVS's ResNet-18: ``modal`` 'vision' reads ``conv1``, 'audio' ``conv1_a``; last stage stride 1 -> H/16."""

    def __init__(self, modal: str):
        super().__init__(3, last_stride=1)
        self.modal = modal
        self.conv1_a = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
        self.conv1_flow = nn.Conv2d(6, 64, 7, 2, 3, bias=False)
        self.fc = nn.Linear(512, 1000)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1_a(x) if self.modal == "audio" else self.conv1(x)


LVS_UNUSED = ("conv1_flow.", "fc.")
"""Parameters of an LvsResNet18 that its forward pass never reads (besides the other modality's stem)."""


def lvs_unused(prefix: str, modal: str) -> tuple[str, ...]:
    """Key prefixes of ``prefix`` + an LvsResNet18 of ``modal`` that the map does not depend on."""
    other = "conv1." if modal == "audio" else "conv1_a."
    return tuple(prefix + p for p in (*LVS_UNUSED, other))
