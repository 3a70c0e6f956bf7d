"""`python -m llmmon` runs the command line."""

from llmmon.cli import main

main()
