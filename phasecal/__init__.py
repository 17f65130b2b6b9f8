"""phasecal: what an LLM inference step costs on this accelerator, and how to schedule for it."""

__version__ = "0.1.0"
