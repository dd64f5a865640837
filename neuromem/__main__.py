"""``python -m neuromem``: the same command line as the ``neuromem`` script."""

import sys

from neuromem.cli import main

if __name__ == "__main__":
    sys.exit(main())
