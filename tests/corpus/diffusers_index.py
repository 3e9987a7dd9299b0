"""diffusers ``model_index.json`` samples: custom components and pipelines loaded as remote code.

diffusers is not installed here, so there is no victim loader; the layouts follow
``DiffusionPipeline.from_pretrained`` (a component's library is a diffusers pipeline module, a
``<component>/<library>.py`` file in the repository, or an installed module).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.corpus import Sample

#: runwayml/stable-diffusion-v1-5's model_index.json, as diffusers writes it.
STABLE_DIFFUSION: dict[str, Any] = {
    "_class_name": "StableDiffusionPipeline",
    "_diffusers_version": "0.6.0",
    "feature_extractor": ["transformers", "CLIPImageProcessor"],
    "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
    "scheduler": ["diffusers", "PNDMScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
    "requires_safety_checker": True,
}

#: stabilityai/stable-diffusion-xl-base-1.0's, with its optional components left out.
STABLE_DIFFUSION_XL: dict[str, Any] = {
    "_class_name": "StableDiffusionXLPipeline",
    "_diffusers_version": "0.19.0.dev0",
    "force_zeros_for_empty_prompt": True,
    "add_watermarker": None,
    "feature_extractor": [None, None],
    "image_encoder": [None, None],
    "scheduler": ["diffusers", "EulerDiscreteScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "tokenizer_2": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


def repository(index: dict[str, Any], files: dict[str, str] | None = None) -> Any:
    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "model_index.json").write_text(json.dumps(index, indent=2))
        for name, text in (files or {}).items():
            target = directory / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text.replace("CANARY", str(canary)))
        return directory

    return build


_PAYLOAD = "import os\nos.system('touch CANARY')\n\nclass MyUNet:\n    pass\n"

SAMPLES = [
    Sample("diffusers-custom-component", repository(
        dict(STABLE_DIFFUSION, unet=["my_unet", "MyUNet"]), {"unet/my_unet.py": _PAYLOAD}),
        True, ("MLS-CFG-007",), "a component whose library is a .py file in its folder"),
    Sample("diffusers-custom-pipeline", repository(
        dict(STABLE_DIFFUSION, _class_name=["pipeline", "MyPipeline"]),
        {"pipeline.py": _PAYLOAD}),
        True, ("MLS-CFG-008",), "_class_name [module, class]: a custom pipeline file"),
    Sample("diffusers-traversal-library", repository(
        dict(STABLE_DIFFUSION, vae=["../../../tmp/evil", "Evil"])),
        True, ("MLS-CFG-009",), "a library name that climbs out of the component folder"),
    Sample("diffusers-stable-diffusion-v1-5", repository(STABLE_DIFFUSION), False,
           technique="Stable Diffusion 1.5's model_index.json"),
    Sample("diffusers-stable-diffusion-xl", repository(STABLE_DIFFUSION_XL), False,
           technique="SDXL's model_index.json with optional components left out"),
]  # fmt: skip

# A component's <library>.py is looked for before the installed library is imported
# (get_class_obj_and_candidates): unet/diffusers.py shadows diffusers itself.
SAMPLES += [
    Sample("diffusers-component-file-shadows-diffusers", repository(
        STABLE_DIFFUSION, {"unet/diffusers.py": _PAYLOAD.replace("MyUNet", "UNet2DConditionModel")}),
        True, ("MLS-CFG-007",), "unet/diffusers.py beside an index naming ['diffusers', ...]"),
    Sample("diffusers-component-file-shadows-transformers", repository(
        STABLE_DIFFUSION, {"text_encoder/transformers.py": _PAYLOAD.replace("MyUNet", "CLIPTextModel")}),
        True, ("MLS-CFG-007",), "text_encoder/transformers.py beside an index naming "
        "['transformers', ...]"),
]  # fmt: skip

# _resolve_custom_pipeline_and_cls checks folder/f"{custom_pipeline}.py" with custom_pipeline
# left at None: a None.py at the root is imported as the pipeline, from a local folder.
SAMPLES += [
    Sample("diffusers-none-py-custom-pipeline", repository(
        STABLE_DIFFUSION, {"None.py": _PAYLOAD.replace("MyUNet", "MyPipeline")}),
        True, ("MLS-CFG-008",), "a None.py beside model_index.json, no custom_pipeline asked"),
]  # fmt: skip
