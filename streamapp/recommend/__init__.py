"""From gathered signals to a ranked, in-stock list: the sources' signals and the hand-weighted
score (:mod:`.scoring`), the learned re-ranker (:mod:`.learned_ranker`) and the pipeline that
the worker, the HTTP API and the evaluator share (:mod:`.pipeline`). Pure functions: nothing
here talks to Redis or Kafka."""
