"""skops samples: schema trees that make ``skops.io.load`` import and call what they name.

Built with :mod:`zipfile` and :mod:`json` (skops itself is only needed by the victims). The
victim is what users write: ``skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))``
— the file's own list of untrusted types, passed back as trusted.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from tests.corpus import Sample, file_sample

PROTOCOL = 2
VICTIM = (
    "import skops.io as sio\nsio.load(ARTIFACT, trusted=sio.get_untrusted_types(file=ARTIFACT))\n"
)


def json_node(value: Any) -> dict[str, Any]:
    return {
        "__class__": type(value).__name__,
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def tuple_node(*items: dict[str, Any]) -> dict[str, Any]:
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
            "content": list(items)}  # fmt: skip


def call_node(module: str, name: str, *args: Any) -> dict[str, Any]:
    """``module.name(*args)`` when loaded: skops' ConstructorFromReduceNode."""
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": tuple_node(*(json_node(a) for a in args)),
    }


def skops_file(tree: dict[str, Any], members: dict[str, bytes] | None = None) -> bytes:
    state = dict(tree, protocol=PROTOCOL, _skops_version="0.16.0")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in (members or {}).items():
            archive.writestr(name, data)
        archive.writestr("schema.json", json.dumps(state, indent=2))
    return buffer.getvalue()


def dict_node(**items: dict[str, Any]) -> dict[str, Any]:
    return {
        "__class__": "dict",
        "__module__": "builtins",
        "__loader__": "DictNode",
        "content": items,
        "key_types": {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
                      "content": [{"__class__": "str", "__module__": "builtins",
                                   "__loader__": "TypeNode"} for _ in items]},
    }  # fmt: skip


def estimator(module: str, name: str, **attrs: dict[str, Any]) -> dict[str, Any]:
    return {"__class__": name, "__module__": module, "__loader__": "ObjectNode",
            "content": dict_node(**attrs)}  # fmt: skip


def _system(canary: Path) -> bytes:
    return skops_file(call_node("os", "system", f"touch {canary}"))


def _system_in_pipeline(canary: Path) -> bytes:
    """The call hides as an attribute of a real-looking estimator."""
    tree = estimator(
        "sklearn.linear_model._logistic",
        "LogisticRegression",
        C=json_node(1.0),
        _sklearn_version=call_node("os", "system", f"touch {canary}"),
    )
    return skops_file(tree)


def _padded_schema(canary: Path) -> bytes:
    """Padding pushes the node keys past any head identification reads."""
    tree = dict({"a" * 8: "x" * 20000}, **call_node("os", "system", f"touch {canary}"))
    return skops_file(tree)


def _operator_attrgetter(canary: Path) -> bytes:
    tree = {"__class__": "attrgetter", "__module__": "operator",
            "__loader__": "OperatorFuncNode", "attrs": tuple_node(json_node("system"))}  # fmt: skip
    return skops_file(tree)


def _renamed(canary: Path) -> bytes:
    return _system(canary)


def _benign_estimator(canary: Path) -> bytes:
    return skops_file(estimator("sklearn.linear_model._logistic", "LogisticRegression",
                                C=json_node(1.0), max_iter=json_node(100)))  # fmt: skip


_RULES = ("MLS-SKOPS-001",)

SAMPLES: list[Sample] = [
    file_sample("skops-constructor-os-system", _system,
                "ConstructorFromReduceNode calls os.system", VICTIM,
                filename="model.skops", rules=_RULES, requires=("skops",)),
    file_sample("skops-os-system-in-estimator-attribute", _system_in_pipeline,
                "os.system as an estimator attribute", VICTIM,
                filename="model.skops", rules=_RULES, requires=("skops", "sklearn")),
    file_sample("skops-padded-schema", _padded_schema,
                "20 kB of padding before the node keys", VICTIM,
                filename="model.skops", rules=_RULES, requires=("skops",)),
    file_sample("skops-operator-attrgetter", _operator_attrgetter,
                "OperatorFuncNode builds operator.attrgetter", None,
                filename="model.skops", rules=_RULES),
    file_sample("skops-renamed-to-zip", _renamed, "a skops file named weights.zip", None,
                filename="weights.zip", rules=_RULES),
    file_sample("skops-logistic-regression-hand-built", _benign_estimator,
                "a LogisticRegression node tree", None, filename="model.skops",
                malicious=False),
]  # fmt: skip
