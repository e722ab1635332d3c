"""Canary rollout of every new model: an offline gate, a canary experiment against the
promoted model, and automatic promotion or rollback on what the canary shows."""
