"""The hot path the agents drive: batch, look up, decide, log, emit; retries and fences."""
