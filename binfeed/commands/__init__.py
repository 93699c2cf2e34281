"""One module per CLI command; binfeed.cli wires them into the ``binfeed`` group."""
