"""From gathered signals to a ranked, in-stock list: the sources' signals and the hand-weighted
score (:mod:`.scoring`), the learned re-ranker (:mod:`.learned_ranker`), whether it may serve
(:mod:`.adoption`), the pipeline that the worker, the HTTP API and the evaluator share
(:mod:`.pipeline`) and the ranking metrics every judge of a ranking uses
(:mod:`.ranking_metrics`). Pure functions: nothing here talks to Redis or Kafka."""
