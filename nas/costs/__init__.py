"""Hardware costs of a network: parameters, FLOPs, activation memory and latency
(:mod:`nas.costs.measure`), and int8 quantization costs (:mod:`nas.costs.int8`)."""
