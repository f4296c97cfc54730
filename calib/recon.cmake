# Reconstruction building blocks (fp32 fwd/bwd on oneDNN, AdaRound, LSQ, units): target_sources(kiln_calib ...). Owner: REC.
