"""The monitor: ``mlsupply watch`` polls the Hub and the package index for supply-chain change.

Each *source* (:mod:`.hub_watch`, :mod:`.index_watch`) turns what changed since its last poll into
:class:`~.alerts.Alert` objects; :mod:`.watcher` runs the sources, keeps their cursors and every
alert raised in the SQLite state (:mod:`.state`), so each alert is raised once, and hands new ones
to the sinks (:mod:`.sinks`: the terminal, a JSON-lines file, a webhook). See docs/monitor.md.
"""
