"""PatchCore-family research pipeline with pluggable backbone, feature fusion and memory bank,
scored with faiss and adlab.metrics; also cross-domain (train on A, test on B) studies."""
