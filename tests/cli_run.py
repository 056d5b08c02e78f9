"""``run_cli``: the command line run in this process, its exit code and output captured."""

from __future__ import annotations

import contextlib
import io

from chainrule.cli import main


def run_cli(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``chainrule ARGS`` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()
