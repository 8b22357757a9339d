"""The ``mmad`` pipeline (VLM evaluation on MMAD) and ``mmad_ad`` (the AD run feeding it)."""
