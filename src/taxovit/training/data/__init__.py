"""The training data: splits and label spaces (:mod:`~taxovit.training.data.splits`), the
array and image readers (:mod:`~taxovit.training.data.readers`) and the in-memory batch path
(:mod:`~taxovit.training.data.memory`)."""
