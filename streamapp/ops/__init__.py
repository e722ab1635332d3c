"""What operators use and see: topic declarations applied (:mod:`.topics`), consumer lag
(:mod:`.lag`) and reading the log by offset (:mod:`.log_reader`), Prometheus metrics
(:mod:`.metrics`), tracing (:mod:`.tracing`) and the checks before a process starts
(:mod:`.preflight`)."""
