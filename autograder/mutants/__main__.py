"""``python -m autograder.mutants [SHEET ...]``: the kill-rate table of the hidden tests."""
import sys

from autograder.mutants import main

sys.exit(main(sys.argv[1:]))
