"""LVS and SSL-Align (LVS's ``AVENet``) and SSL-TIE (``AVENet_ssltie``): LVS's ResNet-18 per modality, the
map A = <v_hw / |v_hw|, a / |a|>, a raw cosine in [-1, 1] on the 14x14 grid (last stage with stride 1).

The audio embedding is the global max of the audio trunk (``AdaptiveMaxPool2d``). The LVS trimap and the
SSL-TIE losses hold no parameters. SSL-TIE's checkpoint also holds ``vision_fc1`` (1x1 conv 1024 -> 512),
``conv3`` (1x1 conv on the map) and ``norm3`` (BatchNorm2d(1)); they are loaded and, as in the reference,
not used for the map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from negaudio.eval.models.resnet import LvsResNet18, lvs_unused


class AVENet(nn.Module):
    """``imgnet`` (vision) and ``audnet`` (audio) LvsResNet18s; ``ssltie`` adds SSL-TIE's vision head."""

    def __init__(self, ssltie: bool = False):
        super().__init__()
        self.imgnet = LvsResNet18("vision")
        self.audnet = LvsResNet18("audio")
        self.ssltie = ssltie
        if ssltie:
            self.vision_fc1 = nn.Conv2d(1024, 512, 1)
            self.conv3 = nn.Conv2d(1, 1, 1)
            self.norm3 = nn.BatchNorm2d(1)

    def unused_prefixes(self) -> tuple[str, ...]:
        """Key prefixes the map does not read (the checkpoint may still hold them)."""
        head = ("vision_fc1.", "conv3.", "norm3.") if self.ssltie else ()
        return (*lvs_unused("imgnet.", "vision"), *lvs_unused("audnet.", "audio"), *head)

    def forward(self, image: torch.Tensor, spec: torch.Tensor) -> torch.Tensor:
        """Normalised images [B, 3, 224, 224], features [B, 1, F, T] -> maps [B, 14, 14] float32 in [-1, 1]."""
        v = F.normalize(self.imgnet(image).float(), dim=1)
        a = F.normalize(self.audnet(spec).amax(dim=(2, 3)).float(), dim=1)
        return torch.einsum("bchw,bc->bhw", v, a)
