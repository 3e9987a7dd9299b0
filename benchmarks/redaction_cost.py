"""What redaction costs at the sinks: :func:`redact_text` over a large report, against rendering it.

Every report passes through :func:`pytest_mlsupply.redaction.redact_text` before it is written.
This builds (in memory, seeded) a CycloneDX-like document of N components (default 5,000) with
the strings real BOMs hold (purls with ``@``, hashes, URLs, properties, error messages), renders
it as the BOM writer does (``json.dumps(..., indent=2)``), and times over the rendered text, the
median of seven runs each: the rendering (the baseline), redaction with nothing registered, and
redaction with 20 registered secrets (a CI environment's tokens). Run it from a checkout:
``PYTHONPATH=$PWD python benchmarks/redaction_cost.py [--components N]``.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import time
from collections.abc import Callable
from typing import Any

from pytest_mlsupply.redaction import forget_registered_secrets, redact_text, register_secret

RUNS = 7


def _document(n: int, rng: random.Random) -> dict[str, Any]:
    def hexdigest() -> str:
        return "".join(rng.choices("0123456789abcdef", k=64))

    components = []
    for i in range(n):
        name = f"pkg-{i}-{rng.randint(0, 10**6)}"
        components.append(
            {
                "type": "library" if i % 3 else "machine-learning-model",
                "bom-ref": f"pkg:pypi/{name}@1.{i % 17}.0",
                "name": name,
                "purl": f"pkg:pypi/{name}@1.{i % 17}.0?repository_url=https://pypi.org/simple",
                "hashes": [{"alg": "SHA-256", "content": hexdigest()}],
                "externalReferences": [
                    {"type": "distribution", "url": f"https://files.example/{name}.whl"}
                ],
                "properties": [
                    {"name": "mlsupply:check:scan", "value": "pass"},
                    {"name": "mlsupply:file", "value": f"models/m{i}/model-{i}.safetensors"},
                    {
                        "name": "mlsupply:error",
                        "value": f"the Hub at https://hub.example answered HTTP 500 ({i})",
                    },
                ],
            }
        )
    return {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": components}


def _median(run: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=5000)
    args = parser.parse_args()
    document = _document(args.components, random.Random(15))
    text = json.dumps(document, indent=2)
    render = _median(lambda: json.dumps(document, indent=2))
    forget_registered_secrets()
    bare = _median(lambda: redact_text(text))
    for _ in range(20):
        register_secret("ghs_" + secrets.token_hex(16))
    registered = _median(lambda: redact_text(text))
    forget_registered_secrets()
    size = len(text.encode()) / 2**20
    print(f"{args.components} components, {size:.1f} MiB of JSON, median of {RUNS}:")
    print(f"  render (json.dumps, baseline)     {render * 1000:8.1f} ms")
    print(f"  redact, nothing registered        {bare * 1000:8.1f} ms  ({bare / render:.2f}x)")
    print(
        f"  redact, 20 secrets registered     {registered * 1000:8.1f} ms  "
        f"({registered / render:.2f}x)"
    )


if __name__ == "__main__":
    main()
