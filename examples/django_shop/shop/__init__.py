"""A small Django shop whose pages depend on Unleash flags (see ../README.md)."""
