"""A zoo model as a negaudio adapter: ``--model ezvsl|slavc|fnac|lvs|ssl-align|ssl-tie --checkpoint FILE``.

The harness resamples every clip to 16 kHz and calls ``fit_wave`` on it (the model's own window); the
adapter computes the model's features for the batch, normalises the images and runs the network, on the GPU
in float16 autocast with pinned host memory when ``--device cuda``. See docs/models.md.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np

from negaudio.core.errors import InputError
from negaudio.core.files import file_sha256
from negaudio.eval.models import frontends as fe
from negaudio.eval.models.checkpoints import key_overlap, load_matched, match_keys, read_state_dict
from negaudio.eval.models.registry import ZOO, ZooModel

COMPAT = ("none", "vssl_eval")
RAW_KINDS = ("silence", "noise")


def compat_note(spec: ZooModel) -> str:
    """The report's line for ``--compat vssl_eval``: what of the reference code's front-end it reproduces."""
    what = (
        "silence and noise items skip the log/dB step of the front-end, as in the reference code "
        "(docs/protocols.md, bug 2)"
        if spec.compat_raw
        else "the reference code's front-end, which for this model treats every item alike"
    )
    if spec.window != spec.compat_window:
        what += "; the clip's first 3 s, rolled, as the reference fed this model, not its centred 3 s"
    return f"BUG REPRODUCTION (--compat vssl_eval): {what}. Use only to reproduce published numbers."


WINDOWS = {
    "rolled10": (
        lambda x: fe.window_rolled(x, 10.0),
        "the first 10 s (tiled), rolled so the clip's midpoint is at 5 s",
    ),
    "rolled3": (lambda x: fe.window_rolled(x, 3.0), "the first 3 s (tiled), rolled by 1.5 s minus the clip's midpoint"),
    "centred3": (lambda x: fe.window_centred(x, 3.0), "the centred 3 s (tiled when short)"),
    "lvs": (fe.window_lvs, "3.5 s to 6.5 s of the first 10 s (tiled), clipped to [-1, 1]"),
    "ssltie": (fe.window_ssltie, "the first 10 s (tiled)"),
}
FEATURES = {
    "stft274": (
        fe.LogSpectrogram(512, 274, 200),
        "log(PSD + 1e-7) / 12, STFT nperseg 512 noverlap 274, central 200 frames",
    ),
    "stft353": (fe.LogSpectrogram(512, 353), "log(PSD + 1e-7) / 12, STFT nperseg 512 noverlap 353"),
    "meldb": (fe.MelDb(), "10 log10 of a 257-band HTK mel power spectrogram, n_fft 512, hop 239, normalized"),
}
MONO = {"mean": fe.mono_mean, "first": fe.first_channel}


def flag(value, name: str) -> bool:
    """A boolean option given as a bool or as the strings true/false/1/0/yes/no."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return text in ("true", "1", "yes")


@contextmanager
def ieee_float32():
    """cuDNN convolutions and CUDA matmuls in IEEE float32 while inside, the caller's settings restored after
    (torch lets cuDNN use TF32 by default, whose 10-bit mantissa moves maps by about 1e-4). Torch >= 2.9 has
    per-backend ``fp32_precision`` settings, which must not be mixed with the older ``allow_tf32`` flags."""
    import torch

    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    if hasattr(getattr(cudnn, "conv", None), "fp32_precision"):
        flags, value = [(cudnn.conv, "fp32_precision"), (matmul, "fp32_precision")], "ieee"
    else:
        flags, value = [(cudnn, "allow_tf32"), (matmul, "allow_tf32")], False
    saved = [getattr(owner, name) for owner, name in flags]
    for owner, name in flags:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for (owner, name), before in zip(flags, saved, strict=True):
            setattr(owner, name, before)


def build_net(spec: ZooModel, state: dict, use_momentum: bool = False):
    """The network of ``spec``; the projection width of the dual encoders is read from ``state``."""
    from negaudio.eval.models.ezvsl import DualEncoder
    from negaudio.eval.models.lvs import AVENet

    if spec.family == "dual":
        proj = state.get("img_proj.weight" if spec.heads == 1 else "img_proj1.weight")
        return DualEncoder(512 if proj is None else int(proj.shape[0]), spec.heads, use_momentum)
    return AVENet(ssltie=spec.name == "ssl-tie")


def closest_models(keys) -> tuple[list[str], float]:
    """The zoo models whose parameter names overlap ``keys`` most (Jaccard), and that overlap."""
    import torch

    with torch.device("meta"):
        scores = {name: key_overlap(build_net(spec, {}).state_dict(), keys) for name, spec in ZOO.items()}
    best = max(scores.values())
    return [n for n, s in scores.items() if s == best], best


def frontend_text(spec: ZooModel, compat: str) -> str:
    window = WINDOWS[spec.compat_window if compat == "vssl_eval" else spec.window][1]
    mono = "mean of the channels clipped to [-1, 1]" if spec.mono == "mean" else "first channel"
    return f"16 kHz, {mono}; {window}; {FEATURES[spec.features][1]}"


class ZooAdapter:
    """Base of the six zoo adapters; a subclass sets ``model`` (a key of ZOO).

    Options: ``checkpoint`` (required), ``compat`` (none | vssl_eval), ``ogl`` (torchvision's ImageNet
    resnet18 checkpoint: object-guided maps), ``ogl_alpha`` (0.4), ``use_momentum`` (SLAVC: map with the
    momentum encoders), ``amp`` (float16 autocast on CUDA, default true; false: IEEE float32, no TF32),
    ``key_map`` (module:function renaming checkpoint keys; None drops a key).
    """

    uses_torch = True
    image_size = (224, 224)
    sample_rate = fe.SAMPLE_RATE
    model = ""

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        compat: str = "none",
        ogl: str | Path | None = None,
        ogl_alpha: float | str = 0.4,
        use_momentum: bool | str = False,
        amp: bool | str = True,
        key_map=None,
    ):
        import torch

        from negaudio.eval.adapters import resolve_object

        spec = ZOO[self.model]
        if checkpoint is None:
            raise ValueError(f"needs the authors' checkpoint: --checkpoint FILE ({spec.checkpoint})")
        if compat not in COMPAT:
            raise ValueError(f"--compat {compat!r}: expected one of {', '.join(COMPAT)}")
        use_momentum, self.amp = flag(use_momentum, "use_momentum"), flag(amp, "amp")
        if use_momentum and spec.heads != 2:
            raise ValueError("use_momentum applies to slavc only")
        self.alpha = float(ogl_alpha)
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"ogl_alpha must be in [0, 1], got {ogl_alpha}")
        if isinstance(key_map, str):
            key_map = resolve_object(key_map, "key_map")
        self.spec, self.compat, path = spec, compat, Path(checkpoint)
        self.window = WINDOWS[spec.compat_window if compat == "vssl_eval" else spec.window][0]
        self.features = FEATURES[spec.features][0]
        self.mono = MONO[spec.mono]
        state = read_state_dict(path, key_map)
        self.net = build_net(spec, state, use_momentum)
        loading = self._load(state, path)
        self.net.eval()
        self.object_net = None
        if ogl is not None:
            from negaudio.eval.models.ogl import load_object_net

            self.object_net = load_object_net(Path(ogl))
        self.device = torch.device("cpu")
        self.provenance = {
            "zoo": spec.name,
            "checkpoint": {"path": str(path), "sha256": file_sha256(path)} | loading,
            "frontend": frontend_text(spec, compat),
            "map": spec.map + (f"; OGL: {self.alpha} * map + {1 - self.alpha:g} * object map" if ogl else ""),
            "ogl": None if ogl is None else {"path": str(ogl), "sha256": file_sha256(Path(ogl)), "alpha": self.alpha},
            "compat": None
            if compat == "none"
            else {"mode": compat, "bug_reproduction": True, "note": compat_note(spec)},
        }

    def _load(self, state: dict, path: Path) -> dict:
        """Load ``state`` into the network: every key the map reads must be there with its shape."""
        found = match_keys(self.net.state_dict(), state, self.net.unused_prefixes())
        unexpected = [] if self.spec.ignore_unexpected else found.unexpected
        if found.missing or unexpected:
            names, overlap = closest_models(state)
            closest = (
                f"closest zoo model by key overlap: {' or '.join(names)} ({overlap:.0%})"
                if overlap > 0
                else "its keys match no zoo model"
            )
            raise InputError(
                f"{path}: does not match the {self.spec.name} model: {found.summary(unexpected)}; {closest}. "
                f"Expected {self.spec.checkpoint}; rename keys with --model-opt key_map=module:function"
            )
        load_matched(self.net, state, path, self.spec.name)
        return {"ignored_keys": len(found.unexpected), "absent_unused_keys": len(found.missing_optional)}

    def fit_wave(self, wave: np.ndarray) -> np.ndarray:
        """[C, N] at 16 kHz -> [1, M]: the model's mono mix and window, the same for every item."""
        return self.window(self.mono(wave))[None].astype(np.float32)

    def audio_inputs(self, waves: np.ndarray, records=None) -> np.ndarray:
        """Windowed waves [B, 1, M] -> the network's audio input [B, 1, F, T]; with ``--compat vssl_eval``
        the silence and noise records skip the log/dB step (where the reference did)."""
        raw = None
        if self.compat == "vssl_eval" and self.spec.compat_raw and records is not None:
            raw = np.array([r.kind in RAW_KINDS for r in records])
        return self.features(waves[:, 0].astype(np.float64), raw)

    def setup(self, build, device: str) -> None:
        import torch

        self.device = torch.device(device)
        self.net.to(self.device)
        if self.object_net is not None:
            self.object_net.to(self.device)

    def _tensor(self, array: np.ndarray):
        import torch

        t = torch.from_numpy(np.ascontiguousarray(array))
        if self.device.type == "cuda":
            return t.pin_memory().to(self.device, non_blocking=True)
        return t

    def __call__(self, images: np.ndarray, waves: np.ndarray, records=None):
        """Images [B, 3, 224, 224] in [0, 1], windowed waves [B, 1, M] (``fit_wave``) -> maps [B, h, w] float32."""
        import torch

        image = self._tensor(fe.normalize_images(images))
        spec = self._tensor(self.audio_inputs(waves, records))
        cuda = self.device.type == "cuda"
        amp = self.amp and cuda
        exact = ieee_float32() if cuda and not amp else nullcontext()
        with torch.inference_mode(), exact, torch.autocast(self.device.type, dtype=torch.float16, enabled=amp):
            maps = self.net(image, spec)
            if self.object_net is not None:
                from negaudio.eval.models.ogl import blend, object_map

                maps = blend(maps, object_map(self.object_net, image), self.alpha)
        return maps.float()


class Ezvsl(ZooAdapter):
    model = "ezvsl"


class Slavc(ZooAdapter):
    model = "slavc"


class Fnac(ZooAdapter):
    model = "fnac"


class Lvs(ZooAdapter):
    model = "lvs"


class SslAlign(ZooAdapter):
    model = "ssl-align"


class SslTie(ZooAdapter):
    model = "ssl-tie"
