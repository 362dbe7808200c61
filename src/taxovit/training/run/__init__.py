"""A training run: its config, set-up, loop, checkpoint, output folder and ``predict``.

Nothing here names a training method: what differs between methods is asked of the
method's class (:mod:`taxovit.training.methods`).
"""
