"""``python -m stylelab.cli``: the same as the ``stylelab`` command."""

import sys

from .command import main


if __name__ == "__main__":
    sys.exit(main())
