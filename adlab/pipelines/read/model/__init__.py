"""READ's architecture: SAM (sam.py), SasP points (sasp.py), the LLaVA MLLM with a ``<SEG>``
token (mllm.py), the CLIP baseline prompter (clip_prompter.py) and the segmenter tying them
together (segmenter.py). Everything here imports torch: load it only when a run executes."""
