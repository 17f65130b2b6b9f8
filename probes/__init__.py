"""Timed microbenchmarks of the device: bandwidth, launch overhead, GEMM, attention and whole steps."""
