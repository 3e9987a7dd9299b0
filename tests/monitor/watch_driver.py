"""``mlsupply`` with the scripted :class:`watch_doubles.FileSource` as the watch's one source: what
the subprocess tests run, in place of the real sources (which have tests of their own)."""

from __future__ import annotations

import sys

from watch_doubles import FileSource

from pytest_mlsupply.cli import main
from pytest_mlsupply.monitor import watcher

watcher.SOURCES[:] = [lambda manifest, options: FileSource()]
sys.exit(main(sys.argv[1:]))
