"""The model zoo: the six models of the negative-audio papers, what each reads and where its weights are.

Plain data (no torch): ``negaudio models`` prints it; :mod:`negaudio.eval.models.adapter` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

VSSL_EVAL_DRIVE = "https://drive.google.com/drive/folders/1ZFec6crf1smf_tp3u5uRUJXw4lGTsOLB (vssl_eval README)"


@dataclass(frozen=True)
class ZooModel:
    """One model: its architecture family, input path, map and the checkpoint layout it loads."""

    name: str
    title: str
    family: str  # "dual" (EZ-VSL/SLAVC/FNAC) or "lvs" (LVS/SSL-Align/SSL-TIE)
    heads: int
    window: str  # a window of negaudio.eval.models.frontends
    compat_window: str  # the window vssl_eval actually used
    features: str  # "stft274" | "stft353" | "meldb"
    mono: str  # "mean" | "first"
    compat_raw: bool  # vssl_eval skipped the log/dB for silence and noise (bug 2)
    map: str
    checkpoint: str
    published: str
    ignore_unexpected: bool = False  # the reference loads with strict=False


_DUAL_CKPT = (
    "{'model': state_dict} (DataParallel 'module.' prefixes accepted); imgnet.*, audnet.* (torchvision ResNet-18)"
)
_LVS_KEYS = "imgnet.*, audnet.* (LVS ResNet-18: conv1, conv1_a, conv1_flow, layer1-4, fc)"

ZOO: dict[str, ZooModel] = {
    m.name: m
    for m in (
        ZooModel(
            "ezvsl",
            "EZ-VSL (Mo & Morgado, ECCV 2022)",
            "dual",
            1,
            "rolled10",
            "rolled10",
            "stft274",
            "mean",
            True,
            "(cos+1)/2 in [0, 1], 7x7",
            f"{_DUAL_CKPT}, img_proj.*, aud_proj.*",
            f"github.com/stoneMo/EZ-VSL (README: Google Drive); {VSSL_EVAL_DRIVE}: ezvsl.pth",
        ),
        ZooModel(
            "slavc",
            "SLAVC (Mo & Morgado, NeurIPS 2022)",
            "dual",
            2,
            "rolled10",
            "rolled10",
            "stft274",
            "mean",
            True,
            "(mean of two heads' cos + 1)/2 in [0, 1], 7x7",
            f"{_DUAL_CKPT}, img_proj1/2.*, aud_proj1/2.*, momentum_* copies of all four",
            f"github.com/stoneMo/SLAVC (README: Google Drive); {VSSL_EVAL_DRIVE}: slavc.pth",
        ),
        ZooModel(
            "fnac",
            "FNAC (Sun et al., CVPR 2023)",
            "dual",
            1,
            "centred3",
            "rolled3",
            "stft274",
            "mean",
            True,
            "(cos+1)/2 in [0, 1], 7x7",
            f"{_DUAL_CKPT}, img_proj.*, aud_proj.* (the EZ-VSL layout)",
            f"github.com/OpenNLPLab/FNAC_AVL (README); {VSSL_EVAL_DRIVE}: fnac.pth",
        ),
        ZooModel(
            "lvs",
            "LVS (Chen et al., CVPR 2021)",
            "lvs",
            1,
            "lvs",
            "lvs",
            "stft353",
            "first",
            False,
            "raw cosine in [-1, 1], 14x14",
            f"{{'model_state_dict': state_dict}} with 'module.' prefixes; {_LVS_KEYS}",
            f"github.com/hche11/Localizing-Visual-Sounds-the-Hard-Way (README); {VSSL_EVAL_DRIVE}",
        ),
        ZooModel(
            "ssl-align",
            "SSL-Align (Senocak et al., ICCV 2023)",
            "lvs",
            1,
            "lvs",
            "lvs",
            "stft353",
            "first",
            False,
            "raw cosine in [-1, 1], 14x14",
            f"{{'model_state_dict': state_dict}} without prefixes; {_LVS_KEYS}; other keys ignored (strict=False)",
            f"github.com/kaistmm/SSLalignment (README: Model Checkpoints); {VSSL_EVAL_DRIVE}: sslalign.pth.tar",
            ignore_unexpected=True,
        ),
        ZooModel(
            "ssl-tie",
            "SSL-TIE (Liu et al., ACM MM 2022)",
            "lvs",
            1,
            "ssltie",
            "ssltie",
            "meldb",
            "first",
            True,
            "raw cosine in [-1, 1], 14x14",
            f"{{'state_dict': state_dict}}; {_LVS_KEYS}, vision_fc1.*, conv3.*, norm3.*",
            f"github.com/jinxiang-liu/SSL-TIE (README); {VSSL_EVAL_DRIVE}",
        ),
    )
}
