"""``python -m engine`` = the ``vtoonify`` console script."""

import sys

from engine.cli import main

if __name__ == "__main__":
    sys.exit(main())
