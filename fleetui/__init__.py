"""fleetui: a terminal fleet manager for GPUs and other accelerators."""

__version__ = "0.1.0"
