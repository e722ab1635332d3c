"""The worker: the Faust app and its agents, from consumed records to published lists.

:mod:`.app` wires the topology; :mod:`.interactions` and :mod:`.inventory` are the two
processors; :mod:`.batch_runner` retries and narrows failing batches; :mod:`.dead_letters` and
:mod:`.sink` are where records leave; :mod:`.fetch_batching` and :mod:`.heap` tune Faust and the
interpreter for batches.
"""
