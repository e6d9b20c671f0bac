"""Build script for the one thing ``setup.cfg`` cannot say.

The default rules live in the top-level ``rules/`` directory, the only copy in
the source tree; ``setup.cfg`` maps it to the package ``cdp_plugin.default_rules``
so that wheels ship it as ``cdp_plugin/default_rules/``. ``packages = find:``
only finds directories under ``cdp_plugin/``, so the package list is built here.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["cdp_plugin", "cdp_plugin.*"]),
                "cdp_plugin.default_rules"])
