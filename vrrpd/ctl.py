"""`python -m vrrpd.ctl` is `vrrpctl`."""

import sys

from .cli import vrrpctl_main

if __name__ == "__main__":
    sys.exit(vrrpctl_main())
