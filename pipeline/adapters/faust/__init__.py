"""The one door to Faust, mode, rocksdict and aiokafka internals.

Everything in LiveGate that touches a private name of those libraries lives in this package
(the bulk consumer, the table stores, the group's generations, the lean sensor), and
`privates.py` lists every such name. The layering test allows `faust`, `mode` and `rocksdict`
imports only here and in `agents/` (the Faust app, public API only), and the canary test
(tests/unit/test_faust_canary.py) fails, naming the attribute, when an upgrade removes one;
the worker checks the same list at start and refuses to run without it.
"""
