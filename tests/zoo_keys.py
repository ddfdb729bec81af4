"""The authors' parameter names and shapes, written out from their model definitions (not from negaudio's
modules), and checkpoints saved in their wrappers with random weights."""

from __future__ import annotations

WIDTHS = (64, 128, 256, 512)


def bn(shapes: dict, name: str, c: int) -> None:
    for s in ("weight", "bias", "running_mean", "running_var"):
        shapes[f"{name}.{s}"] = (c,)
    shapes[f"{name}.num_batches_tracked"] = ()


def resnet18(prefix: str, stems: dict[str, int], fc: bool = False) -> dict:
    """torchvision's resnet18 names (stems: stem conv name -> input channels), without or with ``fc``."""
    shapes = {f"{prefix}{stem}.weight": (64, c, 7, 7) for stem, c in stems.items()}
    bn(shapes, f"{prefix}bn1", 64)
    inplanes = 64
    for i, planes in enumerate(WIDTHS, start=1):
        for b in (0, 1):
            block = f"{prefix}layer{i}.{b}"
            shapes[f"{block}.conv1.weight"] = (planes, inplanes if b == 0 else planes, 3, 3)
            bn(shapes, f"{block}.bn1", planes)
            shapes[f"{block}.conv2.weight"] = (planes, planes, 3, 3)
            bn(shapes, f"{block}.bn2", planes)
            if b == 0 and inplanes != planes:
                shapes[f"{block}.downsample.0.weight"] = (planes, inplanes, 1, 1)
                bn(shapes, f"{block}.downsample.1", planes)
        inplanes = planes
    if fc:
        shapes[f"{prefix}fc.weight"] = (1000, 512)
        shapes[f"{prefix}fc.bias"] = (1000,)
    return shapes


def dual(dim: int, heads: list[str], copy: str = "") -> dict:
    shapes = resnet18(f"{copy}imgnet.", {"conv1": 3}) | resnet18(f"{copy}audnet.", {"conv1": 1})
    for h in heads:
        shapes |= {f"{copy}img_proj{h}.weight": (dim, 512, 1, 1), f"{copy}img_proj{h}.bias": (dim,)}
        shapes |= {f"{copy}aud_proj{h}.weight": (dim, 512), f"{copy}aud_proj{h}.bias": (dim,)}
    return shapes


LVS_STEMS = {"conv1_a": 1, "conv1": 3, "conv1_flow": 6}


def lvs() -> dict:
    return resnet18("imgnet.", LVS_STEMS, fc=True) | resnet18("audnet.", LVS_STEMS, fc=True)


def ssltie() -> dict:
    shapes = lvs() | {"vision_fc1.weight": (512, 1024, 1, 1), "vision_fc1.bias": (512,)}
    shapes |= {"conv3.weight": (1, 1, 1, 1), "conv3.bias": (1,)}
    bn(shapes, "norm3", 1)
    return shapes


def layout(model: str, dim: int = 32) -> dict:
    """Key -> shape of each model's published state dict (before wrapping)."""
    if model in ("ezvsl", "fnac"):
        return dual(dim, [""])
    if model == "slavc":
        return dual(dim, ["1", "2"]) | dual(dim, ["1", "2"], "momentum_")
    if model in ("lvs", "ssl-align"):
        return lvs()
    return ssltie()


def random_state(shapes: dict, seed: int = 0) -> dict:
    import torch

    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, shape in shapes.items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(0)
        elif k.endswith("running_var"):
            state[k] = torch.rand(shape, generator=g) + 0.5
        elif k.endswith("running_mean") or k.endswith(".bias"):
            state[k] = 0.1 * torch.randn(shape, generator=g)
        elif "bn" in k or "downsample.1" in k or k.startswith("norm3"):
            state[k] = 1 + 0.1 * torch.randn(shape, generator=g)
        else:
            fan_in = max(1, int(torch.tensor(shape[1:]).prod())) if len(shape) > 1 else 1
            state[k] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
    return state


def wrap(model: str, state: dict) -> dict:
    """The published wrapping: EZ-VSL/SLAVC {'model': module.*} (FNAC without prefix), LVS
    {'model_state_dict': module.*}, SSL-Align {'model_state_dict': ...}, SSL-TIE {'state_dict': ...}."""
    if model in ("ezvsl", "slavc"):
        return {"model": {f"module.{k}": v for k, v in state.items()}, "epoch": 20}
    if model == "fnac":
        return {"model": state, "epoch": 20}
    if model == "lvs":
        return {"model_state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 20}
    if model == "ssl-align":
        return {"model_state_dict": state, "epoch": 20}
    return {"state_dict": state, "epoch": 20}


def save_checkpoint(path, model: str, dim: int = 32, seed: int = 0, extra: dict | None = None):
    import torch

    torch.save(wrap(model, random_state(layout(model, dim), seed) | (extra or {})), path)
    return path
