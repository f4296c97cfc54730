# Plan, observe, QFloat, freeze: target_sources(kiln_calib ...). Owner: QS.
