"""Unit tests of the shared torch helpers (predictivity.studies.torch_utils)."""

import pytest

torch = pytest.importorskip("torch")

from predictivity.studies.torch_utils import (  # noqa: E402
    OutputCapture,
    inference,
    seeded,
    seeded_init,
    torch_threads,
)


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(0):  # clamped to one thread
        assert torch.get_num_threads() == 1
    with torch_threads(None):  # unchanged
        assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("restored on error too")
    assert torch.get_num_threads() == before


def test_inference_no_grad_eval_and_restore():
    model = torch.nn.Linear(3, 2).train()
    with inference(model, threads=1):
        assert not torch.is_grad_enabled() and not model.training
        assert not model(torch.ones(1, 3)).requires_grad
    assert torch.is_grad_enabled() and model.training


def test_seeded_is_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = seeded_init(torch.nn.Linear, 7, 4, 5)
    b = seeded_init(torch.nn.Linear, 7, 4, 5)
    c = seeded_init(torch.nn.Linear, 8, 4, 5)
    assert torch.equal(torch.rand(3), expected)  # the caller's stream is untouched
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, c.weight)
    # the same draws as torch.manual_seed(seed) followed by the constructor
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        d = torch.nn.Linear(4, 5)
    assert torch.equal(a.weight, d.weight)
    with seeded(7):
        e = torch.nn.Linear(4, 5)
    assert torch.equal(a.weight, e.weight)


def test_output_capture_records_counts_and_stops_early():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    ran = []
    model[2].register_forward_hook(lambda *args: ran.append(True))
    x = torch.ones(2, 3)
    with OutputCapture(model, ["0", "1"], lambda name, out: out.shape) as capture:
        outputs = capture.forward(x)
        assert outputs == {"0": (2, 4), "1": (2, 4)} and capture.calls == {"0": 1, "1": 1}
        assert len(ran) == 1
        capture.stop_early = True  # the last module never runs now
        capture.forward(x)
        assert len(ran) == 1 and set(capture.outputs) == {"0", "1"}
    model(x)  # hooks removed on exit
    assert capture.calls == {"0": 1, "1": 1} and len(ran) == 2
