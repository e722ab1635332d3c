"""Offline evaluation on real logs: the prequential replay (:mod:`.prequential`), its tuning
search (:mod:`.tuning`), off-policy estimates (:mod:`.off_policy`) and the audit log they read
(:mod:`.audit_log`). The ranking metrics are :mod:`streamapp.recommend.ranking_metrics`: the
learner judges the learned ranker with them too."""
