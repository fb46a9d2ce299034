"""``python -m est_stfm`` runs the command line."""

from est_stfm.cli import main

main()
