"""The ``chainrule`` command group."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chainrule")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for unexpected errors.")
def cli(debug: bool) -> None:
    """chainrule: train neural networks by back-propagation, and see every gradient.

    Start with `chainrule train`: the seed's network (the worked example chainrule
    starts from: 2 inputs, 2 linear hidden neurons, 1 output, weights 1, biases 0)
    learns the seed's table of three students (IQ, CGPA → Package), one row at a
    time. Then `chainrule explain` shows the chain rule behind every weight's update,
    with the numbers.

    The example, its notation (w^k_ij, b_kj, O_kj) and its first step:
    docs/tutorial.md in chainrule's source (its README links it); how the code is
    built: docs/design.md.
    """
