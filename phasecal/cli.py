"""The phasecal command line: a thin front door over probes, fitting, scheduler and reports."""

from __future__ import annotations

import typer

from phasecal import __version__
from phasecal.commands import compare, fit, models, probe, report, run, simulate, validate
from phasecal.errors import CliApp, cli_errors

app = CliApp(
    name="phasecal",
    help="What an LLM inference step costs on this accelerator, and how to schedule for it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help: rich markup would swallow "[default: ...]" in help texts and show flags as "<bool>" options
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"phasecal {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """phasecal: probe the device, fit its step-cost model, derive EB thresholds, simulate schedulers."""


for name, fn in [("run", run.run), ("probe", probe.probe), ("fit", fit.fit), ("show", fit.show),
                 ("simulate", simulate.simulate), ("validate", validate.validate), ("report", report.report),
                 ("compare", compare.compare), ("models", models.models)]:
    app.command(name)(cli_errors(fn, name))
