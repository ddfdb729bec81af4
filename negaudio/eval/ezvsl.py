"""EZ-VSL / SLAVC adapter: a user checkpoint on the plain-torch ResNet-18 dual encoder, with the models' own
audio front-end applied to every waveform alike (positives, silence, noise; the reference code skipped the log
for silence and noise: docs/protocols.md, bug 2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from negaudio.core.errors import InputError

SAMPLE_RATE = 16000
NPERSEG, NOVERLAP = 512, 274
FRAMES = 200
LOG_EPS = 1e-7
LOG_SCALE = 12.0
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None, None]
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None, None]
WRAPPERS = ("model", "state_dict", "model_state_dict")


def log_spectrogram(waves: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """EZ-VSL's front-end on [B, C, N] waveforms -> [B, 1, 257, T] float32, the same for every input.

    Mean of the channels clipped to [-1, 1]; ``scipy.signal.spectrogram(nperseg=512, noverlap=274)`` (Tukey
    window, PSD density); log(S + 1e-7); (x - 0) / 12; the central 200 frames (3 s at 16 kHz) when longer.
    """
    from scipy.signal import spectrogram

    mono = np.clip(waves, -1.0, 1.0).mean(axis=1, dtype=np.float64)
    _, _, power = spectrogram(mono, fs=sample_rate, nperseg=NPERSEG, noverlap=NOVERLAP, axis=-1)
    spec = np.log(power + LOG_EPS) / LOG_SCALE
    start = max(0, (spec.shape[-1] - FRAMES) // 2)
    return spec[:, None, :, start : start + FRAMES].astype(np.float32)


def normalize_images(images: np.ndarray) -> np.ndarray:
    """ImageNet normalisation of [B, 3, H, W] images in [0, 1]."""
    return ((images - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)


def strip_module(key: str) -> str:
    """The default key map: drop the ``module.`` prefix that DataParallel/DDP checkpoints carry."""
    return key.removeprefix("module.")


def read_state_dict(path: Path, key_map: Callable[[str], str | None]) -> dict:
    """A checkpoint's tensors, unwrapped from {'model'|'state_dict'|'model_state_dict': ...}, keys mapped
    (a key mapped to None is dropped)."""
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{path}: checkpoint not found") from None
    except Exception as exc:  # torch raises many types for a bad file
        raise InputError(f"{path}: cannot read checkpoint ({exc})") from None
    while isinstance(obj, dict) and (key := next((k for k in WRAPPERS if isinstance(obj.get(k), dict)), None)):
        obj = obj[key]
    if not isinstance(obj, dict):
        raise InputError(f"{path}: expected a state_dict (name -> tensor), got {type(obj).__name__}")
    state = {}
    for k, v in obj.items():
        mapped = key_map(k)
        if mapped is not None:
            state[mapped] = v
    return state


class EzVsl:
    """``--model ezvsl --model-opt checkpoint=PATH [--model-opt key_map=module:function] [audio_pool=max|avg]``.

    The checkpoint holds ``imgnet.*``/``audnet.*`` (torchvision ResNet-18 names, ``audnet.conv1`` with one input
    channel) and ``img_proj.*``/``aud_proj.*`` (EZ-VSL) or ``img_proj1/2.*``/``aud_proj1/2.*`` (SLAVC); the
    projection width is read from it. Maps are 7x7 in [0, 1].
    """

    uses_torch = True
    image_size = (224, 224)
    sample_rate = SAMPLE_RATE
    audio_seconds = 3.0

    def __init__(self, checkpoint: str | Path, key_map: str | Callable | None = None, audio_pool: str = "max"):
        import torch

        from negaudio.eval.adapters import resolve_object
        from negaudio.eval.resnet import DualEncoder

        if isinstance(key_map, str):
            key_map = resolve_object(key_map, "key_map")
        state = read_state_dict(Path(checkpoint), key_map or strip_module)
        heads = 2 if "img_proj1.weight" in state else 1
        proj = state.get("img_proj.weight" if heads == 1 else "img_proj1.weight")
        if proj is None:
            raise InputError(f"{checkpoint}: no img_proj.weight nor img_proj1.weight (pass a key_map)")
        self.model = DualEncoder(int(proj.shape[0]), heads, audio_pool)
        try:
            self.model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise InputError(
                f"{checkpoint}: does not fit the dual encoder: {_key_report(self.model, state, exc)}"
            ) from None
        self.model.eval()
        self.device = torch.device("cpu")

    def setup(self, build, device: str) -> None:
        import torch

        self.device = torch.device(device)
        self.model.to(self.device)

    def __call__(self, images, waves, records):
        import torch

        image = torch.from_numpy(normalize_images(images)).to(self.device)
        spec = torch.from_numpy(log_spectrogram(waves, self.sample_rate)).to(self.device)
        with torch.inference_mode():
            return self.model(image, spec)


def _key_report(model, state: dict, exc: Exception) -> str:
    expected = set(model.state_dict())
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if not missing and not unexpected:
        return str(exc).strip().splitlines()[-1].strip()
    return (
        f"{len(missing)} missing keys (e.g. {missing[:4]}), {len(unexpected)} unexpected (e.g. {unexpected[:4]}); "
        "map them with --model-opt key_map=module:function"
    )
