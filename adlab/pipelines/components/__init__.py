"""What several pipelines share, so no pipeline package imports another.

- :mod:`.export`: a trained anomalib module -> an ONNX bundle (torch, imported by the runner only);
- :mod:`.infer`: onnxruntime sessions and scorers over a bundle, image decoding and prefetch;
- :mod:`.faiss_search`: PatchCore's nearest-neighbour search over a memory bank;
- :mod:`.predict` / :mod:`.predictions`: the seed's predictions JSON, thresholds, anomaly maps;
- :mod:`.visuals`: heatmap overlays and example picking;
- :mod:`.weights`: local-only pretrained weights (digest, no hub download).

Components import base, data, metrics and core only, never a pipeline package.
"""
