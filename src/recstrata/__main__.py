"""``python -m recstrata``: same as the ``recstrata`` command."""

from recstrata.cli import main

main()
