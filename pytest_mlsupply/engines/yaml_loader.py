"""PyYAML's safe loader with its simple-key bookkeeping made linear: the one adapter over
PyYAML's scanner internals.

The pure-Python scanner keeps one "possible simple key" per open flow collection and, before
every token, walks all of them twice (``stale_possible_simple_keys`` and
``next_possible_simple_key``): text that opens thousands of ``[`` or ``{`` on one line costs
time quadratic in its depth. A 10 kB ``config.yaml`` of ``a: [[[[…`` took 38 s to scan (found
by fuzzing; a 4 MiB one would never finish). The keys sit in a dict in the order they were
saved (a key saved again is deleted first), which is the order of their positions, so staleness
— another line, or more than 1,024 characters back — holds for a prefix of the dict, and the
nearest key is its first entry. The two methods below look at that prefix only; the events,
marks and errors are exactly the safe loader's (held equal by ``tests/fuzz/test_yaml_loader.py``)
up to :data:`MAX_FLOW_DEPTH` nested flow collections, where it stops with an error.

The pure-Python loader is kept on purpose (not libyaml's): it is what OmegaConf, Hydra and
``yaml.safe_load`` without libyaml read a config with, so the scanner sees the same document.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.scanner import ScannerError

__all__ = ["MAX_FLOW_DEPTH", "LinearSafeLoader"]

#: How far back a simple key may start on its line (the YAML spec's 1,024 characters).
_SIMPLE_KEY_SPAN = 1024
#: libyaml's own nesting limit. PyYAML's pure-Python composer recurses once per level and
#: fails far earlier, so no loader reads a deeper document; parsing one costs the scanner
#: seconds per 10,000 levels (100,000 '[' in a config took over 20 s).
MAX_FLOW_DEPTH = 1000


class LinearSafeLoader(yaml.SafeLoader):
    """:class:`yaml.SafeLoader`, linear in the nesting depth of flow collections, which stops
    with a :class:`ScannerError` past :data:`MAX_FLOW_DEPTH` levels."""

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_FLOW_DEPTH:
            raise ScannerError(
                None,
                None,
                f"flow collections nested deeper than {MAX_FLOW_DEPTH} levels, which no YAML "
                "loader reads",
                self.get_mark(),
            )
        super().fetch_flow_collection_start(TokenClass)

    def next_possible_simple_key(self) -> int | None:
        for key in self.possible_simple_keys.values():
            return int(key.token_number)  # the first saved is the nearest
        return None

    def stale_possible_simple_keys(self) -> None:
        keys = self.possible_simple_keys
        while keys:
            level = next(iter(keys))
            key = keys[level]
            if key.line == self.line and self.index - key.index <= _SIMPLE_KEY_SPAN:
                return  # every key saved after this one is fresher still
            if key.required:
                raise ScannerError(
                    "while scanning a simple key",
                    key.mark,
                    "could not find expected ':'",
                    self.get_mark(),
                )
            del keys[level]
