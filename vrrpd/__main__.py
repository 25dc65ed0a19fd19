import sys

from .cli import vrrpd_main

sys.exit(vrrpd_main())
