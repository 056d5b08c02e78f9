"""The ``chainrule`` command.

``chainrule train`` with no arguments runs the seed document's example: its network
(2 inputs, 2 linear hidden neurons, 1 output, weights 1, biases 0) on its table of
students, one row at a time.  With a CSV file it trains on any table.  ``chainrule
explain`` prints the chain rule for every weight and bias of one step.

Errors a user can cause are printed as one line, without a traceback, and the
command exits with status 1 (2 for a bad option, as click does).
"""

from __future__ import annotations

import sys
from typing import Sequence

import click

from ..errors import ChainruleError
from . import explain_cmd, model_cmds, quiz_cmd, train_cmd  # noqa: F401 - they register their commands
from . import serve_cmd  # noqa: F401 - registers `chainrule serve`
from .app import cli


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the command, turning chainrule errors into one clear line."""
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        rc = cli.main(args=argv, prog_name="chainrule", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        rc = 130
    except click.ClickException as exc:
        exc.show()
        rc = exc.exit_code
    except ChainruleError as exc:
        click.echo(f"error: {exc}", err=True)
        rc = 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        rc = 130
    except Exception as exc:  # a bug: say so plainly instead of a traceback
        if debug:
            raise
        click.echo(f"chainrule hit an unexpected error ({type(exc).__name__}: {exc}); this is a "
                   "bug, please report it (run with --debug for the traceback)", err=True)
        rc = 3
    sys.exit(rc if isinstance(rc, int) else 0)


__all__ = ["cli", "main"]
