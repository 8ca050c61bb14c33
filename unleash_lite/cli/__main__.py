"""``python -m unleash_lite.cli``: the ``unleash-lite`` command."""

import sys

from .parser import main

sys.exit(main())
