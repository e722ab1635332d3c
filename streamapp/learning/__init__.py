"""Online learning: the learner process (:mod:`.learner`), matrix factorisation
(:mod:`.factors`), the ranker's labels (:mod:`.labels`), model snapshots (:mod:`.snapshots`)
and their registry (:mod:`.registry`), what a worker serves (:mod:`.serving`) and the
nearest-neighbour retrieval it serves with (:mod:`.retrieval`)."""
