"""`python -m flowvox` is the `flowvox` command."""

import sys

from flowvox.cli import main

sys.exit(main())
