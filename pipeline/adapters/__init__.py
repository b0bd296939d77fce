"""The outside world, one module per thing: settings, Kafka, Redis, logs, metrics, time."""
