"""Where a move lands: the scheduler (Slurm account limits, Kueue ClusterQueues) made to match
what each team and project holds. fleetui runs the scheduler's own tools and writes its own
objects; it decides nothing a scheduler decides."""
