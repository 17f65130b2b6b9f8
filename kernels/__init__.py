"""Triton and CuPy kernels of a serving step, each beside its torch reference, and the model shape catalog."""
