"""The acceptance suite's pytest hooks and fixtures live in validation/plugin.py; this file only loads them."""

pytest_plugins = ["validation.plugin"]
