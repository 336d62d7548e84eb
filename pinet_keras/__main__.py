"""``python -m pinet_keras``: the ``pinet-keras`` command (`pinet_keras.cli`)."""

import sys

from pinet_keras.cli import main

if __name__ == "__main__":
    sys.exit(main())
