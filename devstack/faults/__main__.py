"""`python -m devstack.faults --dossiers 200` (`make faults`): see devstack/faults/__init__.py."""

from __future__ import annotations

import sys

from devstack.faults.run import main

if __name__ == "__main__":
    sys.exit(main())
