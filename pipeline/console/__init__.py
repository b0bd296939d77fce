"""The review console (`livegate console`, CONTRACT §9): a web page for reviewers.

Top layer, beside cli/ops/replay: it reads the compacted `enforcement.queue` and
`enforcement.restrictions` topics, the worker's creator view and the Redis certification
table, and produces verdicts to `moderation.reviews`. It never imports agents/ or the engine:
the pipeline and the console meet only at the topics.
"""
