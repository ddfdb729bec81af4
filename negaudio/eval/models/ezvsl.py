"""EZ-VSL, SLAVC and FNAC: a torchvision ResNet-18 per modality, 1x1-conv / linear projections, and the map
(cos(v_hw, a) + 1) / 2 on the 7x7 grid (SLAVC: the mean of its two heads' cosines).

Parameter names follow the authors' modules (``imgnet``, ``audnet``, ``img_proj``/``aud_proj``; SLAVC
``img_proj1/2``, ``aud_proj1/2`` and the ``momentum_*`` copies of all four, which its checkpoints hold).
Dropout and the training losses hold no parameters and are left out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from negaudio.eval.models.resnet import ResNet18


class DualEncoder(nn.Module):
    """``heads`` 1 (EZ-VSL, FNAC) or 2 (SLAVC, with momentum encoders; ``use_momentum`` maps with those, as
    SLAVC's ``use_mom_eval``). The audio trunk ends with global max pooling (EZ-VSL's AdaptiveMaxPool2d)."""

    def __init__(self, dim: int = 512, heads: int = 1, use_momentum: bool = False):
        super().__init__()
        if heads not in (1, 2) or (use_momentum and heads != 2):
            raise ValueError(f"heads must be 1 or 2 (momentum encoders only with 2), got {heads}")
        self.heads = [""] if heads == 1 else ["1", "2"]
        self.copies = [""] if heads == 1 else ["", "momentum_"]
        self.used = "momentum_" if use_momentum else ""
        for c in self.copies:
            setattr(self, f"{c}imgnet", ResNet18(3))
            setattr(self, f"{c}audnet", ResNet18(1))
            for h in self.heads:
                setattr(self, f"{c}img_proj{h}", nn.Conv2d(512, dim, 1))
                setattr(self, f"{c}aud_proj{h}", nn.Linear(512, dim))

    def unused_prefixes(self) -> tuple[str, ...]:
        """Key prefixes the map does not read: the encoder copy not used for maps (SLAVC)."""
        return tuple(f"{c}{m}" for c in self.copies if c != self.used for m in ("imgnet.", "audnet.", "img_", "aud_"))

    def forward(self, image: torch.Tensor, spec: torch.Tensor) -> torch.Tensor:
        """Normalised images [B, 3, 224, 224], features [B, 1, F, T] -> maps [B, 7, 7] float32 in [0, 1]."""
        c = self.used
        v = getattr(self, f"{c}imgnet")(image)
        a = getattr(self, f"{c}audnet")(spec).amax(dim=(2, 3))
        cosines = []
        for h in self.heads:
            vh = F.normalize(getattr(self, f"{c}img_proj{h}")(v).float(), dim=1)
            ah = F.normalize(getattr(self, f"{c}aud_proj{h}")(a).float(), dim=1)
            cosines.append(torch.einsum("bchw,bc->bhw", vh, ah))
        return (torch.stack(cosines).mean(dim=0) + 1) / 2
