"""The `patroli` command: the composition root, the only module that imports every package."""

import typer

app = typer.Typer(no_args_is_help=True)


def main() -> None:
    app()
