"""Universal thresholds: calibration from negative-map maxima on a named split, saved and reused as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from negaudio.core.errors import InputError
from negaudio.eval.metrics import UniversalThresholds, calibrate_universal
from negaudio.eval.samples import POSITIVE, BuildIndex
from negaudio.manifest import Build

FORMAT = 1


def build_identity(build: Build) -> dict:
    """Dataset name and version, content hash and partial flag of a build (from build.json)."""
    info = build.info
    return {
        "path": str(build.root),
        "dataset": info["dataset"]["name"],
        "version": info["dataset"]["version"],
        "content_sha256": info["content_sha256"],
        "partial": info.get("partial", False),
    }


def split_name(identity: dict) -> str:
    return f"{identity['dataset']}@{identity['version']} (content {identity['content_sha256'][:12]})"


def calibrate(index: BuildIndex, maxima: Mapping[str, float], split: str) -> UniversalThresholds:
    """Universal thresholds from the raw-map maxima of every negative type of a build (positives: pos_p25)."""
    by_name: dict[str, list[float]] = {}
    for item_id, name in index.items.items():
        by_name.setdefault(name, []).append(maxima[item_id])
    negatives = {n: np.array(by_name[n]) for n in index.negatives() if n in by_name}
    if not negatives:
        raise InputError(
            "the calibration build has no negative items: universal thresholds need negative-map maxima "
            "(pass --calibration FILE, or --threshold without universal kinds)"
        )
    return calibrate_universal(negatives, split, positives=np.array(by_name[POSITIVE]))


def calibration_record(thresholds: UniversalThresholds, identity: dict, predictions: list[dict], model) -> dict:
    """The JSON document of a calibration: thresholds and where they came from."""
    return {
        "negaudio_calibration": FORMAT,
        "thresholds": thresholds.to_dict(),
        "build": identity,
        "predictions": predictions,
        "model": model,
    }


def save_calibration(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_calibration(path: Path) -> tuple[UniversalThresholds, dict]:
    """Read a calibration JSON written by ``negaudio eval --save-calibration``; return thresholds and record.
    ``paper:MODEL`` names the thresholds a paper hard-coded (negaudio.eval.paper_calibrations)."""
    from negaudio.eval.paper_calibrations import is_paper, paper_calibration

    if is_paper(path):
        return paper_calibration(path)
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: calibration file not found") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable calibration JSON ({exc})") from None
    except RecursionError:
        raise InputError(f"{path}: not a calibration JSON (nested too deeply)") from None
    if not isinstance(record, dict) or record.get("negaudio_calibration") != FORMAT:
        raise InputError(f"{path}: not a negaudio calibration file (format {FORMAT})")
    try:
        return UniversalThresholds.from_dict(record["thresholds"]), record
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: invalid calibration thresholds ({exc})") from None
