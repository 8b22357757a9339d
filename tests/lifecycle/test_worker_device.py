"""``--device cuda:K`` is checked against the GPUs this machine has, in one sentence."""
from __future__ import annotations

import pytest

from adlab.errors import AdlabError
from adlab.worker.devices import check_cuda_index, cuda_device_count


@pytest.mark.parametrize(("count", "words"), [
    (0, "--device cuda:7: this machine has no CUDA device"),
    (1, "--device cuda:7: cuda:7 does not exist; devices: cuda:0 "),
    (2, "--device cuda:7: cuda:7 does not exist; devices: cuda:0..cuda:1 "),
])
def test_a_gpu_the_machine_does_not_have_is_refused_naming_those_it_has(count, words):
    with pytest.raises(AdlabError) as err:
        check_cuda_index("cuda:7", 7, count=count)
    assert str(err.value).startswith(words), err.value


def test_a_gpu_the_machine_has_is_accepted():
    check_cuda_index("cuda:1", 1, count=2)  # raises if refused
    count = cuda_device_count()  # this machine's own count (nvidia-smi -L, /proc, /dev)
    if count:
        check_cuda_index(f"cuda:{count - 1}", count - 1)
    with pytest.raises(AdlabError):
        check_cuda_index(f"cuda:{count}", count)
