"""Extras are read back from adlab's installed metadata; a failed import names the missing one.

This environment has every extra but ``gpu`` (onnxruntime-gpu, faiss-gpu-cu12), so ``gpu``
stands in for a missing extra; the wheel test (test_wheel.py) checks a real base install.
"""
from __future__ import annotations

import pytest

from adlab.pipelines import list_pipelines
from adlab.pipelines.extras import (MissingExtraError, extra_distributions, extras_needed,
                                    missing_distributions)


def test_each_extra_lists_what_pyproject_puts_in_it():
    assert {"torch", "anomalib", "onnxruntime", "faiss-cpu"} <= set(extra_distributions("anomalib"))
    assert {"transformers", "openai", "anthropic", "google-genai"} <= set(extra_distributions("vlm"))
    assert "segment-anything" in extra_distributions("read")
    union = {*extra_distributions("anomalib"), *extra_distributions("vlm"),
             *extra_distributions("read")}
    assert set(extra_distributions("all")) == union
    assert extra_distributions("no-such-extra") == ()


def test_every_declared_extra_exists():
    for spec in list_pipelines():
        for extra in spec.extras:
            assert extra_distributions(extra), f"{spec.name} declares unknown extra {extra!r}"


def test_a_missing_module_of_a_missing_extra_is_one_sentence_naming_it():
    assert missing_distributions(("gpu",)) == ["onnxruntime-gpu", "faiss-gpu-cu12"]
    with pytest.raises(MissingExtraError) as err:
        with extras_needed("study", ("gpu",)):
            import faiss_gpu_not_here  # noqa: F401
    assert str(err.value).startswith(
        "pipeline 'study' needs the 'gpu' extra: pip install 'adlab[gpu]' (not installed here: ")


def test_installed_extras_and_adlab_modules_keep_the_real_error():
    with pytest.raises(ModuleNotFoundError):
        with extras_needed("anomalib", ("anomalib",)):  # installed: the error is a real bug
            import no_such_module  # noqa: F401
    with pytest.raises(ModuleNotFoundError):
        with extras_needed("study", ("gpu",)):  # adlab's own module: never an extra's fault
            import adlab.no_such_module  # noqa: F401
