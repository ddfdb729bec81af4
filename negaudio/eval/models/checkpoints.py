"""Reading the authors' checkpoints: unwrapping, prefixes, key matching with a report a user can act on."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from negaudio.core.errors import InputError

WRAPPERS = ("model", "state_dict", "model_state_dict")
"""Dict keys the authors wrap their state dicts in (EZ-VSL/SLAVC/FNAC, SSL-TIE, LVS/SSL-Align)."""
DATAPARALLEL = "module."
LEGACY_MAGIC = b"\x80\x02"  # torch.save before the zip format: a pickle, protocol 2


def strip_module(key: str) -> str:
    """The default key map: drop the ``module.`` prefix of DataParallel/DDP checkpoints."""
    return key.removeprefix(DATAPARALLEL)


def safe_globals() -> list:
    """Plain-data types that training scripts save beside the weights: argparse.Namespace, numpy scalars."""
    import argparse

    import numpy as np

    core = getattr(np, "_core", None) or np.core
    dtypes = {type(np.dtype(t)) for t in (np.float64, np.float32, np.int64, np.int32, np.bool_)}
    return [argparse.Namespace, core.multiarray.scalar, np.dtype, *dtypes]


def unreadable(path: Path, exc: Exception) -> str:
    """Why ``torch.load`` refused a file, in a user's words: empty, not a PyTorch checkpoint, or unsafe to load."""
    import pickle
    import zipfile

    if path.stat().st_size == 0:
        return "the checkpoint file is empty"
    with open(path, "rb") as fh:
        legacy = fh.read(2) == LEGACY_MAGIC
    if not zipfile.is_zipfile(path) and not legacy:
        return "not a PyTorch checkpoint (neither a torch.save zip archive nor the legacy format)"
    if isinstance(exc, pickle.UnpicklingError) and "weights_only" in str(exc):
        return "the checkpoint holds objects other than tensors and plain data; refused unread (they could run code)"
    return f"cannot read the checkpoint ({type(exc).__name__}: {str(exc)[:200]})"


def read_state_dict(path: Path, key_map: Callable[[str], str | None] | None = None) -> dict:
    """A checkpoint's tensors, unwrapped from nested {'model'|'state_dict'|'model_state_dict': ...}, keys
    mapped by ``key_map`` (default: ``module.`` stripped; a key mapped to None is dropped).

    Read with ``torch.load(weights_only=True)``: a checkpoint cannot run code. Besides tensors it may hold the
    training script's ``argparse.Namespace`` and numpy scalars (an epoch's best score), which load as data.
    """
    import torch

    try:
        with torch.serialization.safe_globals(safe_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{path}: checkpoint not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a checkpoint file") from None
    except Exception as exc:  # torch raises many types for a file it cannot read
        raise InputError(f"{path}: {unreadable(path, exc)}") from None
    while isinstance(obj, dict) and (key := next((k for k in WRAPPERS if isinstance(obj.get(k), dict)), None)):
        obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise InputError(f"{path}: expected a state_dict (name -> tensor), got {type(obj).__name__}")
    mapper = key_map or strip_module
    state = {}
    for k, v in obj.items():
        if (mapped := mapper(k)) is not None and hasattr(v, "shape"):
            state[mapped] = v
    if not state and not any(hasattr(v, "shape") for v in obj.values()):
        wrappers = ", ".join(repr(k) for k in WRAPPERS)
        raise InputError(
            f"{path}: holds no tensor (keys {sorted(obj)[:8]}): expected a state_dict (name -> tensor), at the top "
            f"or under one of {wrappers}"
        )
    return state


def optional_key(key: str, unused: Iterable[str]) -> bool:
    """Keys a checkpoint may lack: BatchNorm step counters (older torch) and parameters the map never reads."""
    return key.endswith("num_batches_tracked") or any(key.startswith(p) for p in unused)


@dataclass
class KeyMatch:
    """How a state dict's keys meet a model's: what is missing (required or not) and what is left over."""

    missing: list[str]
    unexpected: list[str]
    missing_optional: list[str] = field(default_factory=list)

    def summary(self, unexpected: list[str] | None = None, examples: int = 4) -> str:
        """``N missing keys (e.g. [...]), M unexpected (e.g. [...])``, examples only where there are some;
        ``unexpected``: the left-over keys that count (default: all)."""
        unexpected = self.unexpected if unexpected is None else unexpected
        parts = [(len(self.missing), "missing keys", self.missing), (len(unexpected), "unexpected", unexpected)]
        return ", ".join(f"{n} {what}" + (f" (e.g. {keys[:examples]})" if keys else "") for n, what, keys in parts)


def match_keys(expected: Iterable[str], state: Iterable[str], unused: Iterable[str]) -> KeyMatch:
    expected, present, unused = set(expected), set(state), tuple(unused)
    absent = expected - present
    return KeyMatch(
        missing=sorted(k for k in absent if not optional_key(k, unused)),
        unexpected=sorted(present - expected),
        missing_optional=sorted(k for k in absent if optional_key(k, unused)),
    )


def key_overlap(expected: Iterable[str], state: Iterable[str]) -> float:
    """Jaccard overlap |E & S| / |E | S| of two key sets (0 when both are empty)."""
    e, s = set(expected), set(state)
    return len(e & s) / len(e | s) if e | s else 0.0


def load_matched(model, state: dict, path: Path, what: str) -> None:
    """Copy the tensors of ``state`` that ``model`` has into it; a shape mismatch is an input error."""
    own = model.state_dict()
    bad = [
        f"{k} {tuple(v.shape)} (expected {tuple(own[k].shape)})"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    if bad:
        raise InputError(f"{path}: does not fit {what}: {len(bad)} tensors of another shape, e.g. {bad[:3]}")
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
