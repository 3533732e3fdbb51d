"""Exit statuses shared by every command of the service's command line."""

# sysexits.h EX_CONFIG: orchestrators and scripts can tell "fix the config"
# apart from a crash.
EXIT_CONFIG = 78
# The command ran and failed (a dependency refused, an instance is unhealthy).
EXIT_FAILED = 1
EXIT_UNHEALTHY = EXIT_FAILED
# `readiness`: the scorecard was computed and a gate is below its minimum. A
# failure like any other to CI; the table says which gate and why.
EXIT_NOT_READY = EXIT_FAILED
