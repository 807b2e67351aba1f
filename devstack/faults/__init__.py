"""The fault matrix: `python -m devstack.faults --dossiers 200` (`make faults`).

Starts a stack of its own as `entraide-stack up` does (private PostgreSQL, NATS and Temporal,
the application processes under supervisord, in a temporary state dir with free ports; no
demo data; short timers; one extra partner notified by a signed webhook to a receiver this
process serves), drives N dossiers through their whole lifecycle with a retrying client
(`driver`, `client`), injects one fault after another meanwhile (`injectors`: processes
killed, a relay killed between PubAck and mark, servers restarted, poison and duplicate
messages, a timer and updates during a worker outage, the webhook receiver down), waits
for the system to settle, checks the truth against the driver's tally (`checks`), prints the
matrix and saves it into the state dir (`report`), and tears everything down. Exit status 1
when anything was lost or doubled, INTERNAL was seen, or something did not recover.

Modules: `stack` (start, stop, servers, supervised programs), `client`, `receiver` (the
webhook partner), `driver`, `context` (what the faults share), `injectors` (processes,
relays, worker outages, servers; the schedule), `messages` (poison, duplicates, the webhook
receiver down), `checks`, `report`, `run` (the command line).
"""
