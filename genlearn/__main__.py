"""``python -m genlearn``: the same command line as the ``genlearn`` script."""

import sys

from genlearn.cli import main

sys.exit(main())
