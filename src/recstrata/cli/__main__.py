"""``python -m recstrata.cli``: same as the ``recstrata`` command."""

from recstrata.cli import main

main()
