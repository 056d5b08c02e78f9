"""The ``chainrule`` command group."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chainrule")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for unexpected errors.")
def cli(debug: bool) -> None:
    """chainrule: train neural networks by back-propagation, and see every gradient.

    Start with `chainrule train`: the seed document's network learns its table of
    students (IQ, CGPA → Package), one row at a time. Then `chainrule explain` shows
    the chain rule behind every weight's update, with the numbers.
    """
