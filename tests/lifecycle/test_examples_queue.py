"""Every study in ``examples/`` queues through ``adlab queue`` with its data check: the ones on
generated data (synthetic, a tiny MMAD folder) under a data root holding that data, without a
warning; the ones on real datasets (MVTec AD, GoodsAD) with no data root here, with only the
warning that their data was not checked. The queue-time check refuses nothing valid."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from bad_inputs_cases import _lab_env, _mmad_tree, _run_in_process

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REAL_DATA = {"anomalib_mvtec_models.yaml", "anomalib_patchcore_faiss.yaml", "read_mvtec.yaml",
             "read_mvtec_leaky_protocol.yaml"}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from adlab.data.synth import generate_synthetic

    root = tmp_path_factory.mktemp("data")
    generate_synthetic(root / "synthetic", categories=["woven", "washer", "wood"], image_size=32,
                       n_train=2, n_test_good=1, n_test_defect=1)
    _mmad_tree(root / "MMAD")
    return root


def test_the_examples_are_the_ones_this_test_knows() -> None:
    names = {p.name for p in EXAMPLES.glob("*.yaml")}
    assert REAL_DATA <= names and len(names) > len(REAL_DATA)


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_an_example_queues_with_the_data_check(example: str, data_root: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real = example in REAL_DATA
    if real:
        monkeypatch.delenv("ADLAB_DATA_ROOT", raising=False)
    env = {} if real else {"ADLAB_DATA_ROOT": str(data_root)}
    with _lab_env(tmp_path, env):
        outcome = _run_in_process(["queue", str(EXAMPLES / example), "--dry-run", "--json"])
    assert outcome.code == 0, outcome.stderr
    result = json.loads(outcome.stdout)
    assert result["runs"] and result["dry_run"]
    if real:
        assert result["data_warnings"] and all("was not checked" in w or "not checked" in w
                                               for w in result["data_warnings"])
    else:
        assert result["data_warnings"] == [], result["data_warnings"]
