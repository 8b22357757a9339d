"""The ``read`` pipeline: READ (LLaVA + SAM, ``<SEG>`` token, SasP points) anomaly segmentation,
and its training-free CLIP + SAM baseline, scored with adlab's metrics."""
