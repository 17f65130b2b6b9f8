"""The CLI commands, one module each; phasecal/cli.py registers them."""
