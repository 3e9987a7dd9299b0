"""What the string analyser costs on the largest documents it meets: a tokenizer's vocabulary.

Builds (in memory, seeded) a 1M-entry ``tokenizer.json`` vocabulary and a 500k-entry GGUF-like
token list, with the mix of tokens real vocabularies hold (words, subwords, code runs, and a few
percent of long base64-looking tokens), and times the analyser over them: the median of five
runs. Run it from a checkout: ``PYTHONPATH=$PWD python benchmarks/strings_cost.py``.
"""

from __future__ import annotations

import random
import statistics
import string
import time
from collections.abc import Callable

from pytest_mlsupply.engines.blob import Blob
from pytest_mlsupply.engines.pickle import PicklePolicy
from pytest_mlsupply.engines.strings import StringAnalyser

RUNS = 5
_ALNUM = string.ascii_letters + string.digits
_CODE = [
    "self.assertEqual",
    "getElementById",
    "________________",
    "================",
    "----------------",
    "////////////////",
    "\\n\\n\\n\\n\\n\\n\\n\\n",
    "<|endoftext|>",
    "https://github.com/",
    "{{ message['role'] }}",
]


def _token(rng: random.Random, marker: str) -> str:
    roll = rng.random()
    if roll < 0.70:
        return marker + "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 10)))
    if roll < 0.90:
        return "".join(rng.choices(string.ascii_letters, k=rng.randint(1, 8)))
    if roll < 0.95:
        return rng.choice(_CODE) + str(rng.randint(0, 99))
    if roll < 0.99:
        # Byte-level and merged tokens that look like base64 or hex.
        return "".join(rng.choices(_ALNUM + "+/", k=rng.randint(16, 40)))
    return "".join(rng.choices("âĢĶĵ¦¤ĠĊ€", k=rng.randint(2, 6)))


def _median(run: Callable[[], object]) -> tuple[float, float]:
    """Median wall time and median CPU time (the machine may be shared: CPU time is steadier)."""
    wall, cpu = [], []
    for _ in range(RUNS):
        started, started_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    rng = random.Random(8)
    blob = Blob(subject="tokenizer.json", name="tokenizer.json", data=b"{}")
    vocab: dict[str, int] = {}
    while len(vocab) < 1_000_000:
        vocab.setdefault(_token(rng, "Ġ"), len(vocab))
    document = {"model": {"type": "BPE", "vocab": vocab, "merges": []}}
    tokens = [_token(rng, "▁") for _ in range(500_000)]
    paths = [f"tokenizer.ggml.tokens[{i}]" for i in range(len(tokens))]

    def tokenizer() -> object:
        analyser = StringAnalyser(blob, PicklePolicy())
        return analyser.walk(document) + analyser.finish()

    def gguf() -> object:
        analyser = StringAnalyser(blob, PicklePolicy())
        found = []
        for path, text in zip(paths, tokens, strict=True):
            found += analyser.value(path, text, key="tokenizer.ggml.tokens")
        return found + analyser.finish()

    def token_list() -> object:
        analyser = StringAnalyser(blob, PicklePolicy())
        return analyser.walk({"tokens": tokens}) + analyser.finish()

    for name, run in (
        ("tokenizer.json, 1M vocab (walk)", tokenizer),
        ("GGUF-like, 500k tokens (value each)", gguf),
        ("JSON list, 500k tokens (walk)", token_list),
    ):
        findings = run()
        wall, cpu = _median(run)
        count = len(findings)  # type: ignore[arg-type]
        print(f"{name}: {wall:.3f} s wall, {cpu:.3f} s CPU (medians of {RUNS}); findings: {count}")


if __name__ == "__main__":
    main()
