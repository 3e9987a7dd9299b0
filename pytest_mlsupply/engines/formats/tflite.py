"""TensorFlow Lite models: a FlatBuffer whose file identifier is ``TFL3``.

Identified only: a TFLite flatbuffer holds no code of its own (custom operators are native
libraries the interpreter must be given separately), so there is nothing in it to scan yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_mlsupply.engines.identification import Family, Format, Identification

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import View

__all__ = ["identify_tflite"]


def identify_tflite(view: View) -> Identification | None:
    if view.head[4:8] != b"TFL3":
        return None
    return Identification(
        Format.TFLITE,
        Family.TFLITE,
        False,
        "TensorFlow Lite flatbuffer",
        "identifier TFL3 at byte 4",
    )
