"""Network parts and losses the methods assemble: the trained :class:`Network`
(:mod:`~taxovit.training.parts.network`), LoRA layers, visual prompts, the DeiT teacher, the
Grafit and hierarchy losses and the linear probe's feature cache."""
