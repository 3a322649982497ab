"""The ``stylelab`` command, one module per subcommand (:mod:`stylelab.cli.command` lists them).

:mod:`~stylelab.cli.common` holds what they share (exit codes, argument types, the input and
output checks), :mod:`~stylelab.cli.options` the options of ``transfer``, ``texture`` and
``reconstruct``, :mod:`~stylelab.cli.execute` the run itself. Building the parser imports
no torch: ``stylelab --help`` answers at once; each command imports what it runs.
"""

from .command import main


__all__ = ["main"]
