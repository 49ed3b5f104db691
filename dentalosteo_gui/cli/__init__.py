"""Command-line interface: ``dentalosteo <subcommand>``.

Each subcommand lives in its own module in this package exposing ``register(subparsers)``
which adds its parser and sets ``func`` (called with the parsed args, returns an exit code).
"""
