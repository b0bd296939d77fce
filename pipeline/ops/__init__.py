"""What operators run beside the worker: the local stack, the simulator, the registry, plots."""
