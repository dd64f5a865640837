"""``python -m neuromem.cli``: the same command line as ``neuromem`` and ``python -m neuromem``."""

import sys

from neuromem.cli import main

if __name__ == "__main__":
    sys.exit(main())
