"""Offline evaluation on real logs: the prequential replay (:mod:`.prequential`), the ranking
metrics (:mod:`.ranking_metrics`), off-policy estimates (:mod:`.off_policy`) and the audit log
they read (:mod:`.audit_log`)."""
