"""`python -m twin.cli`: the `twin` console script, run as a module (tests start it this way)."""

import sys

from twin.cli.main import main

sys.exit(main())
