"""faiss search + PatchCore scoring equal anomalib's in-torch nearest-neighbour scoring."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow  # imports anomalib (~10 s)

from adlab.pipelines.components.faiss_search import build_index, patchcore_scores


@pytest.mark.parametrize("num_neighbors", [1, 9])
def test_faiss_scores_match_anomalib_patchcore(num_neighbors: int) -> None:
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel

    rng = np.random.default_rng(0)
    bank = rng.normal(size=(500, 32)).astype(np.float32)
    features = rng.normal(size=(3, 49, 32)).astype(np.float32)
    model = PatchcoreModel(layers=["layer2"], backbone="resnet18", pre_trained=False,
                           num_neighbors=num_neighbors)
    model.memory_bank = torch.from_numpy(bank)
    embedding = torch.from_numpy(features.reshape(-1, 32))
    ref_patch, ref_loc = model.nearest_neighbors(embedding, n_neighbors=1)
    ref_score = model.compute_anomaly_score(ref_patch.reshape(3, -1), ref_loc.reshape(3, -1), embedding)

    scores, patch = patchcore_scores(features, build_index(bank), num_neighbors)
    assert np.abs(patch - ref_patch.reshape(3, -1).numpy()).max() < 1e-4
    assert np.abs(scores - ref_score.numpy()).max() < 1e-4


def test_index_search_returns_euclidean_distances() -> None:
    bank = np.array([[0, 0], [3, 4], [10, 0]], dtype=np.float32)
    dist, idx = build_index(bank).search(np.array([[0, 0]], dtype=np.float32), 2)
    assert idx.tolist() == [[0, 1]] and dist[0].tolist() == pytest.approx([0.0, 5.0])
