"""``python -m genlearn``: the same command line as the ``genlearn`` script."""

import signal
import sys


def main() -> int:
    # A Ctrl-C while torch imports (seconds) is held until the imports finish: raised inside them, it prints a
    # traceback, or aborts in torch's C++ code. Nothing has started yet, so the command just exits.
    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: interrupted.append(number))
    try:
        from genlearn.cli import main as command_line
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        return 130
    return command_line()


if __name__ == "__main__":
    sys.exit(main())
