"""``python -m stylelab``: the same as the ``stylelab`` command."""

import sys

from .cli.command import main


if __name__ == "__main__":
    sys.exit(main())
