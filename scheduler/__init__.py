"""Reference scheduler-runner: MB, PF, EB and EB+ over workloads, simulated or executed."""
