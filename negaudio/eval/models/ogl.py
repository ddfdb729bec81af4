"""Object-guided localisation (OGL, from EZ-VSL): an ImageNet ResNet-18's object map blended into the
audio-visual map, P_ogl = alpha * P_av + (1 - alpha) * O with O = mean over channels of |layer4 features|.

The reference (vssl_eval) downloads torchvision's ImageNet ``resnet18`` at run time; here the user gives that
checkpoint's file (``resnet18-f37072fd.pth`` or ``resnet18-5c106cde.pth`` from download.pytorch.org), so
evaluation runs offline. As in vssl_eval, neither map is min-max normalised (docs/protocols.md, bug 7).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from negaudio.core.errors import InputError
from negaudio.eval.models.checkpoints import load_matched, match_keys, read_state_dict
from negaudio.eval.models.resnet import ResNet18

CLASSIFIER = ("fc.weight", "fc.bias")


def load_object_net(path: Path) -> ResNet18:
    """torchvision's ImageNet ResNet-18 from its checkpoint file (the ``fc`` classifier is not used)."""
    net = ResNet18(3)
    state = read_state_dict(path)
    found = match_keys(net.state_dict(), state, ())
    unexpected = [k for k in found.unexpected if k not in CLASSIFIER]
    if found.missing or unexpected:
        raise InputError(
            f"{path}: not torchvision's ImageNet resnet18 checkpoint (--model-opt ogl): "
            f"{found.summary(unexpected, examples=3)}"
        )
    load_matched(net, state, path, "torchvision's resnet18")
    return net.eval()


def object_map(net: ResNet18, image: torch.Tensor) -> torch.Tensor:
    """[B, 3, 224, 224] normalised images -> [B, 7, 7] mean |feature| over the 512 channels."""
    return net(image).float().abs().mean(dim=1)


def blend(av: torch.Tensor, obj: torch.Tensor, alpha: float) -> torch.Tensor:
    """alpha * av + (1 - alpha) * obj, the object map resized bilinearly (half-pixel) to the map's grid first."""
    if obj.shape[-2:] != av.shape[-2:]:
        obj = F.interpolate(obj[:, None], size=av.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    return alpha * av + (1 - alpha) * obj
