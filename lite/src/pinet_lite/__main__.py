import sys

from pinet_lite.cli import main

sys.exit(main())
