# Q-graph ops (kiln.Q*, Quantize/Dequantize) of the runtime: target_sources(kiln_runtime ...). Owner: QX.
