"""Known vulnerabilities of Python dependencies: one advisory model, several databases.

:mod:`.model` is the contract every database answers in (:class:`~.model.Advisory`) and what
crosses process boundaries as check facts; the databases behind ``vulnerabilities.service``
(``offline`` snapshots of OSV records, and the ``pypi`` / ``osv`` services through pip-audit)
each live in one module of this package.
"""
