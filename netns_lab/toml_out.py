"""The lab writes its configuration files with vrrpd's TOML writer (`vrrpd.toml_out`)."""

from vrrpd.toml_out import dumps

__all__ = ["dumps"]
