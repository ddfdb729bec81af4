"""The universal thresholds the ICASSP 2025 negative-audio paper hard-coded per model, as named calibrations
(``--calibration paper:ezvsl``), with their provenance.

Source: xavijuanola/vssl_eval @ e8ebbc9, ``eval.py``, ``main()`` ("Adding thresholds"), applied to both VGG-SS
and IS3. ``max`` is the mean of negative-map maxima, ``max10`` = 1.1 x ``max`` and ``maxq3`` their 75th
percentile (the active values). ``maxq3_separate`` takes the value left commented out below each active
``maxq3``: it is >= the active one for all six models, consistent with the maximum over negative types of the
per-type 75th percentile (an inference; the paper's calibration split is not published).
"""

from __future__ import annotations

from negaudio.core.errors import InputError
from negaudio.eval.metrics import UniversalThresholds

PREFIX = "paper:"
SOURCE = "xavijuanola/vssl_eval@e8ebbc9 eval.py main() (hard-coded per model)"
# model: (max, max10, maxq3, maxq3 commented out)
PAPER = {
    "ezvsl": (0.6041, 0.6645, 0.6382, 0.6607),
    "slavc": (0.5201, 0.5721, 0.5450, 0.5513),
    "fnac": (0.5311, 0.5842, 0.5538, 0.5565),
    "lvs": (0.5527, 0.6080, 0.6077, 0.6724),
    "ssl-tie": (0.2641, 0.2906, 0.3338, 0.3825),
    "ssl-align": (0.2660, 0.2926, 0.3175, 0.3388),
}


def is_paper(name) -> bool:
    return str(name).startswith(PREFIX)


def paper_calibration(name) -> tuple[UniversalThresholds, dict]:
    """Thresholds and calibration record of ``paper:MODEL`` (the record has the shape of a saved calibration)."""
    from negaudio.eval.calibration import FORMAT

    model = str(name).removeprefix(PREFIX)
    if model not in PAPER:
        raise InputError(f"--calibration {name}: unknown paper calibration; expected paper:{' or paper:'.join(PAPER)}")
    mean, mean10, q3, q3_separate = PAPER[model]
    thresholds = UniversalThresholds(
        split=f"paper:{model}: ICASSP 2025 thresholds for {model} ({SOURCE}; calibration split not published)",
        max=mean,
        max10=mean10,
        maxq3=q3,
        maxq3_separate=q3_separate,
        pos_p25=None,
        n_maxima={},
    )
    record = {
        "negaudio_calibration": FORMAT,
        "thresholds": thresholds.to_dict(),
        "build": {"dataset": "not published (vssl_eval used VGG-SS and IS3 alike)", "content_sha256": None},
        "predictions": [],
        "model": {"paper": model, "source": SOURCE, "maxq3_separate": "the commented-out maxq3 (inferred)"},
    }
    return thresholds, record
