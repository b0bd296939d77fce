"""`livegate bench`: LiveGate's throughput and latency against its limit and engine floor.

Modules by role: `workload` (creators, certifications, input records), `topics` (a system's
own topics and the run's cleanup), `kafkaio` (producing, end offsets, output timestamps),
`procs` (the measured processes), `paced` (the paced producer and latency), `runner` (the
phases), `report` (table and JSON). `raw_passthrough` and `faust_floor` are the two
reference systems, each run with `python -m`.
"""
