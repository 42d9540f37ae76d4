"""FastPitch, the non-generative baseline: config, model, training task, loader."""
