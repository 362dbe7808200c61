"""``python -m taxovit.cli`` (and ``torchrun ... -m taxovit.cli train``) runs the CLI."""

from taxovit.cli import main

main()
