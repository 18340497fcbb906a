"""Command line of the instructor tools: ``python -m autograder COMMAND ...``."""
import importlib
import sys

COMMANDS = {
    "release": "autograder.release",
    "grade": "autograder.grade",
    "demo": "autograder.demo",
    "sample": "autograder.cifar_sample",
    "nbval-record": "autograder.nbval_record",
    "dask-env": "autograder.engine.cluster",
}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        sys.exit(f"usage: python -m autograder {{{','.join(COMMANDS)}}} ...")
    module = importlib.import_module(COMMANDS[argv[0]])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
