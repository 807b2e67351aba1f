"""`python -m devstack.synthetic --year 2026 --dossiers 750 --seed 1 [--publish]`: see cli.py."""

from __future__ import annotations

import sys

from devstack.synthetic.cli import main

if __name__ == "__main__":
    sys.exit(main())
