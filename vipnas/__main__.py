"""``python -m vipnas`` is the same as the ``vipnas`` command."""

import sys

from vipnas.cli import main

if __name__ == "__main__":
    sys.exit(main())
