"""Training networks: the loop every training-based evaluator shares (:mod:`nas.training.loop`),
its optimiser and schedule, augmentation, distillation, and supernet training."""
