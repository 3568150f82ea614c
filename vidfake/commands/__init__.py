"""Subcommands of `vidfake`: each module has `register(subparsers)` that sets `func`."""
