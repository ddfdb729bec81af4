"""Per-name counts, durations and levels of a build (what ``negaudio inspect`` and ``build`` print)."""

from __future__ import annotations

import statistics
from pathlib import Path

from negaudio.manifest.reader import Build


def summarize(root: Path) -> list[dict]:
    """Per-kind counts (``with_gt``: items with a ground-truth mask), durations and levels of a build (what
    ``negaudio inspect`` prints); for items drawn under exclusion groups, the map (``exclude_groups``) and how
    many draws the groups changed (``group_changed``)."""
    stats: dict[str, dict] = {}
    for record in Build(root):
        s = stats.setdefault(
            record.name,
            {"kind": record.kind, "items": 0, "with_gt": 0, "seconds": 0.0, "rms": [], "digital_silence": 0},
        )
        s["items"] += 1
        s["with_gt"] += record.mask is not None
        if "group_changed" in record.params:  # drawn under exclusion groups (docs/recipes.md)
            s["exclude_groups"] = record.params.get("exclude_groups")
            s["group_changed"] = s.get("group_changed", 0) + bool(record.params["group_changed"])
        s["seconds"] += record.audio.duration_s
        if record.audio.rms_dbfs is None:
            s["digital_silence"] += 1
        else:
            s["rms"].append(record.audio.rms_dbfs)
    rows = []
    for name, s in stats.items():
        rms = sorted(s["rms"])
        rows.append(
            {
                "name": name,
                "kind": s["kind"],
                "items": s["items"],
                "with_gt": s["with_gt"],
                "mean_duration_s": s["seconds"] / s["items"],
                "rms_dbfs_median": statistics.median(rms) if rms else None,
                "rms_dbfs_min": rms[0] if rms else None,
                "rms_dbfs_max": rms[-1] if rms else None,
                "digital_silence": s["digital_silence"],
            }
            | ({k: s[k] for k in ("exclude_groups", "group_changed")} if "group_changed" in s else {})
        )
    return rows


def no_ground_truth_note(with_gt: int, positives: int) -> str | None:
    """The note for a build none of whose positives has a ground-truth region (None when one has)."""
    if not positives or with_gt:
        return None
    return (
        "no positive of this build has a ground-truth region (a source without annotations, or the canonical "
        "flickr-neg plan, which has no boxes: build that one with --no-canonical on a copy holding "
        "Annotations/*.xml): IoU, cIoU, mIoU and AUC are scored against empty masks; pIA, pos-neg IoU and "
        "separability need no ground truth"
    )
