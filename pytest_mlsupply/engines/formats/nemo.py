"""NeMo model archives (``.nemo``): a tar, gzip-compressed or not, of a config and weights.

``ModelPT.restore_from`` extracts the archive, reads ``model_config.yaml`` with OmegaConf and
instantiates every ``_target_`` in it, then ``torch.load``\\ s ``model_weights.ckpt``; tokenizer
files and other artifacts ride along. An archive is claimed by its content — a tar member named
``model_config.yaml`` (``./model_config.yaml`` as NeMo writes it) — with the member names the
tar reader of :mod:`pytest_mlsupply.engines.formats.archives` listed; a gzip-compressed archive is
claimed in its decompressed head. Scanning is the tar engine's: every member goes back through
the scanner, so the config reaches the YAML engine (python tags, ``_target_``) and the checkpoint
the torch engine, each finding with its member name. There is no second tar reader here.
"""

from __future__ import annotations

from pytest_mlsupply.engines.identification import Family, Format, Identification

__all__ = ["NEMO_CONFIG", "claim_nemo_tar"]

NEMO_CONFIG = "model_config.yaml"


def claim_nemo_tar(names: list[str], evidence: str) -> Identification | None:
    """A NeMo archive: a tar whose top level holds ``model_config.yaml``."""
    if NEMO_CONFIG not in names:
        return None
    weights = [name for name in names if name.endswith(".ckpt")]
    detail = "NeMo model archive (model_config.yaml"
    detail += f", {', '.join(weights[:3])})" if weights else ")"
    return Identification(
        Format.NEMO,
        Family.TAR,
        True,
        detail,
        f"{evidence}; member model_config.yaml (restore_from instantiates its _target_ keys)",
    )
