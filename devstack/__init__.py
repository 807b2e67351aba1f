"""Local development stack: private PostgreSQL, NATS and Temporal plus the application processes.

Import the API from `devstack.servers` and `devstack.processes`; this package file stays empty so
that light tools living here (e.g. `python -m devstack.protogen`) do not pay for those imports.
"""
