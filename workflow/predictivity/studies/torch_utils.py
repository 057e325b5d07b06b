"""Small torch helpers shared by every study kind's network code.

torch is imported inside the functions, so importing this module does not import torch (a stage
that never runs a network stays light).

- :func:`import_torch` — the ``torch`` module, imported on first use.
- :func:`torch_threads` — limit torch's intra-op threads inside a block, restored afterwards.
- :func:`inference` — threads limited, gradients off and (optionally) a model in eval mode inside
  a block; everything restored afterwards.
- :func:`seeded` — torch's default initialisation drawn from a fixed seed without touching the
  caller's global RNG state; :func:`seeded_init` calls a constructor that way.
- :class:`OutputCapture` — forward hooks recording the outputs of named submodules.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any


def import_torch():
    """The ``torch`` module (imported on first call; cheap afterwards)."""
    import torch

    return torch


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """``torch.set_num_threads(max(1, threads))`` inside the block, the previous number restored
    afterwards. ``threads=None`` leaves the number of threads as it is."""
    torch = import_torch()
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def inference(model=None, threads: int | None = None):
    """Inside the block: :func:`torch_threads` (``threads``), ``torch.no_grad()`` and, when a
    ``model`` is given, ``model.eval()``; its training mode and the thread count are restored
    afterwards."""
    torch = import_torch()
    was_training = None if model is None else model.training
    with torch_threads(threads):
        if model is not None:
            model.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            if model is not None:
                model.train(was_training)


@contextlib.contextmanager
def seeded(seed: int):
    """``torch.manual_seed(seed)`` inside ``torch.random.fork_rng(devices=[])``: modules created
    in the block draw PyTorch's default initialisation from ``seed`` (same seed → identical
    weights), and the caller's global CPU RNG state is restored afterwards."""
    torch = import_torch()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def seeded_init(factory: Callable[..., Any], seed: int, *args, **kwargs):
    """``factory(*args, **kwargs)`` called inside :func:`seeded` ``(seed)``; returns its
    result (e.g. a freshly initialised module)."""
    with seeded(seed):
        return factory(*args, **kwargs)


class StopForward(Exception):
    """Raised by an :class:`OutputCapture` hook to end a forward pass early."""


class OutputCapture:
    """Forward hooks that record the outputs of named submodules of ``model``.

    Use as a context manager (hooks are registered on entry and removed on exit) and run the
    model through :meth:`forward`. Each hooked module's output is passed through
    ``transform(name, output)`` and kept in :attr:`outputs` (one forward pass at a time);
    :attr:`calls` counts how often each module ran in that pass (a module that runs more than
    once overwrites its output). With :attr:`stop_early` set, the forward pass is cut short
    (:class:`StopForward`) as soon as every named module has produced its output.
    """

    def __init__(
        self,
        model,
        names: Sequence[str],
        transform: Callable[[str, Any], Any] | None = None,
        stop_early: bool = False,
    ):
        self.model = model
        self.names = list(names)
        self.transform = transform
        self.stop_early = stop_early
        self.outputs: dict[str, Any] = {}
        self.calls: dict[str, int] = {}
        self._handles: list = []

    def _hook(self, name: str):
        def hook(_module, _inputs, output):
            self.calls[name] = self.calls.get(name, 0) + 1
            self.outputs[name] = output if self.transform is None else self.transform(name, output)
            if self.stop_early and len(self.outputs) == len(self.names):
                raise StopForward

        return hook

    def __enter__(self) -> OutputCapture:
        self._handles = [
            self.model.get_submodule(name).register_forward_hook(self._hook(name))
            for name in self.names
        ]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def forward(self, *args, **kwargs) -> dict[str, Any]:
        """One forward pass ``model(*args, **kwargs)`` (its return value is discarded); returns
        :attr:`outputs`, the transformed outputs of the named modules that ran."""
        self.outputs.clear()
        self.calls.clear()
        try:
            self.model(*args, **kwargs)
        except StopForward:
            pass
        return self.outputs
