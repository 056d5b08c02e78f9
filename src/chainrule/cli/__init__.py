"""The ``chainrule`` command.

``chainrule train`` with no arguments runs the seed's example (docs/tutorial.md): its network
(2 inputs, 2 linear hidden neurons, 1 output, weights 1, biases 0) on its table of
students, one row at a time.  With a CSV file it trains on any table.  ``chainrule
explain`` prints the chain rule for every weight and bias of one step.

Errors a user can cause are printed as one line starting ``error:``, without a
traceback; the command exits with status 1, or 2 for a bad option or argument (a usage
error, as click counts them), or 130 when Ctrl-C stopped a run.
"""

from __future__ import annotations

import sys
from typing import Sequence

import click

from ..errors import ChainruleError
from . import explain_cmd, model_cmds, quiz_cmd, train_cmd  # noqa: F401 - they register their commands
from . import serve_cmd  # noqa: F401 - registers `chainrule serve`
from . import search_cmd  # noqa: F401 - registers `chainrule search`
from .app import cli


def one_line(exc: click.ClickException) -> str:
    """A click error as one line; a usage error says where the help is."""
    text = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        text += f" (see: {ctx.command_path} --help)"
    return text


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the command, turning chainrule errors into one clear line."""
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        rc = cli.main(args=argv, prog_name="chainrule", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        rc = 130
    except click.ClickException as exc:  # click's own errors, in chainrule's one-line style
        click.echo(f"error: {one_line(exc)}", err=True)
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
