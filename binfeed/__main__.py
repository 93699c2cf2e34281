"""`python -m binfeed`: the same as the `binfeed` command."""

from binfeed.cli import main

main(prog_name="binfeed")
