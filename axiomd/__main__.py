import sys

from axiomd.cli import main

sys.exit(main())
