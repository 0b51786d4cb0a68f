"""`faas`: run the CLI, turn every CliError into its message and exit code."""

from __future__ import annotations

import sys

import click

from .commands import cli
from .errors import CliError, Exit
from .output import err


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="faas", standalone_mode=False)
    except CliError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", markup=True, highlight=False)
        if exc.hint:
            err.print(f"  {exc.hint}", markup=False)
        return int(exc.code)
    except click.exceptions.Abort:
        err.print("aborted")
        return int(Exit.FAILED)
    except click.ClickException as exc:  # usage errors: click's own message
        exc.show()
        return int(Exit.USAGE)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return int(Exit.OK)
    return int(Exit.OK)


if __name__ == "__main__":
    sys.exit(main())
