"""Live telemetry: a collector over NVML, the node agent that serves it, dcgm-exporter text."""
