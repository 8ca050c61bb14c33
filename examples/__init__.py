"""Example applications built on unleash_lite (not part of the installed package)."""
