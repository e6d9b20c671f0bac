"""``python -m cdp_plugin.cli``: the same as the ``cdp-plugin`` command."""

import sys

from cdp_plugin.cli import main

sys.exit(main())
