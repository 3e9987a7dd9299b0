"""``mlsupply`` with the scripted :class:`watch_doubles.FileSource` as the watch's one source: what
the subprocess tests run (the real sources are not on this branch)."""

from __future__ import annotations

import sys

from watch_doubles import FileSource

from pytest_mlsupply.cli import main
from pytest_mlsupply.monitor import watcher

watcher.SOURCES.append(FileSource)
sys.exit(main(sys.argv[1:]))
