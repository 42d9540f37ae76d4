"""`python -m flowvox` is the `flowvox` command."""

import sys

from flowvox.cli.main import main

sys.exit(main())
