"""Benchmarks: the end-to-end harness (:mod:`.harness`), the soak run (:mod:`.soak`), the
OTLP receiver that collects spans (:mod:`.otlp_receiver`) and the micro-benchmarks of single
parts (:mod:`.measures`). Nothing in the product imports this package."""
