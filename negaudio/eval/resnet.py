"""ResNet-18 in plain torch (torchvision's parameter names) and the EZ-VSL/SLAVC dual encoder built on it."""

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
    """ResNet-18 trunk without pooling or classifier: [B, C, H, W] -> features [B, 512, H/32, W/32].

    Parameter names match torchvision's ``resnet18`` (conv1, bn1, layer1..layer4), so its checkpoints load.
    """

    def __init__(self, in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        widths = (64, 128, 256, 512)
        inplanes = 64
        for i, planes in enumerate(widths, start=1):
            stride = 1 if i == 1 else 2
            setattr(self, f"layer{i}", nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes)))
            inplanes = planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class DualEncoder(nn.Module):
    """EZ-VSL (one head: ``img_proj``, ``aud_proj``) or SLAVC-style (two heads: ``img_proj1/2``, ``aud_proj1/2``).

    ``imgnet``: image ResNet-18 -> 7x7 features, 1x1 conv projection; ``audnet``: 1-channel ResNet-18 on the
    log-spectrogram, global max (or mean) pooling, linear projection. Map = (cos(v_hw, a) + 1) / 2 per head,
    averaged over heads.
    """

    def __init__(self, dim: int, heads: int = 1, audio_pool: str = "max"):
        super().__init__()
        if heads not in (1, 2) or audio_pool not in ("max", "avg"):
            raise ValueError(f"heads must be 1 or 2 and audio_pool max or avg, got {heads}, {audio_pool!r}")
        self.imgnet = ResNet18(3)
        self.audnet = ResNet18(1)
        self.audio_pool = audio_pool
        self.head_names = [""] if heads == 1 else ["1", "2"]
        for h in self.head_names:
            setattr(self, f"img_proj{h}", nn.Conv2d(512, dim, 1))
            setattr(self, f"aud_proj{h}", nn.Linear(512, dim))

    def forward(self, image: torch.Tensor, spectrogram: torch.Tensor) -> torch.Tensor:
        """Normalised images [B, 3, 224, 224] and log-spectrograms [B, 1, F, T] -> maps [B, 7, 7] in [0, 1]."""
        v = self.imgnet(image)
        a = self.audnet(spectrogram)
        a = a.amax(dim=(2, 3)) if self.audio_pool == "max" else a.mean(dim=(2, 3))
        maps = []
        for h in self.head_names:
            vh = F.normalize(getattr(self, f"img_proj{h}")(v), dim=1)
            ah = F.normalize(getattr(self, f"aud_proj{h}")(a), dim=1)
            maps.append((torch.einsum("bchw,bc->bhw", vh, ah) + 1) / 2)
        return torch.stack(maps).mean(dim=0)
