"""Unit tests of the `it` study kind: images, CNNs, activations, projection, simulated IT."""

import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from predictivity.errors import InputError
from predictivity.studies.it import architectures
from predictivity.studies.it.activations import (
    cnn_activations,
    projection_matrix,
    random_projection,
)
from predictivity.studies.it.images import (
    SAMPLE_SOURCES,
    load_image_folder,
    load_sample_image,
    make_images,
)
from predictivity.studies.it.networks import (
    ARCHITECTURES,
    DEFAULT_LAYERS,
    N_PARAMETERS,
    _torchvision,
    build_cnn,
    preprocessing,
)
from predictivity.studies.it.simulate import simulate_it

SCHEMA = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml").read_text()
)


@pytest.fixture(scope="module")
def small_images():
    return make_images(12, 64, seed=0)


@pytest.fixture(scope="module")
def squeeze0():
    return build_cnn("squeezenet1_1", seed=0)


# ------------------------------------------------------------------------------------ stimuli
def test_make_images_ids_stable_unique_and_deterministic(small_images):
    images, stimuli = small_images
    assert images.shape == (12, 64, 64, 3) and images.dtype == np.uint8
    assert list(stimuli["stimulus_id"]) == [f"img{i:04d}" for i in range(12)]
    assert stimuli["stimulus_id"].is_unique
    assert (stimuli["group"] == stimuli["source"]).all()
    assert stimuli["source"].nunique() == 12  # round-robin over 20 sources
    for col in ("transform", "crop_x", "crop_y", "crop_size", "rot90", "flip", "grey"):
        assert col in stimuli.columns
    again, st2 = make_images(12, 64, seed=0)
    np.testing.assert_array_equal(images, again)
    assert st2.equals(stimuli)
    # image i does not depend on n_images
    first, st3 = make_images(5, 64, seed=0)
    np.testing.assert_array_equal(first, images[:5])
    assert list(st3["stimulus_id"]) == list(stimuli["stimulus_id"][:5])
    other, _ = make_images(12, 64, seed=1)
    assert not np.array_equal(other, images)
    # all images distinct; grey ones really are grey
    flat = images.reshape(12, -1)
    assert len({row.tobytes() for row in flat}) == 12
    for img, grey in zip(images, stimuli["grey"]):
        if grey:
            assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(
                img[..., 1], img[..., 2]
            )


def test_sample_sources_are_bundled():
    for name in SAMPLE_SOURCES:  # no download (pooch) is needed for any of them
        img = load_sample_image(name)
        assert (
            img.ndim == 3
            and img.shape[2] == 3
            and img.dtype == np.uint8
            and min(img.shape[:2]) >= 150
        )


def test_load_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = tmp_path / "stimuli"
    folder.mkdir()
    Image.fromarray(rng.integers(0, 255, (50, 80, 3), dtype=np.uint8)).save(folder / "b_wide.png")
    Image.fromarray(rng.integers(0, 255, (90, 40), dtype=np.uint8)).save(folder / "a_grey.jpg")
    Image.fromarray(rng.integers(0, 255, (30, 30, 4), dtype=np.uint8), "RGBA").save(
        folder / "c_rgba.png"
    )
    (folder / "notes.txt").write_text("not an image")
    images, stimuli = load_image_folder(folder, size=32)
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8
    assert list(stimuli["stimulus_id"]) == ["a_grey", "b_wide", "c_rgba"]
    assert list(stimuli["grey"]) == [True, False, False]
    assert list(stimuli["width"]) == [40, 80, 30]

    empty = tmp_path / "empty_folder"
    empty.mkdir()
    (empty / "readme.md").write_text("x")
    with pytest.raises(InputError, match="empty_folder"):
        load_image_folder(empty)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="broken.png"):
        load_image_folder(bad)


# ------------------------------------------------------------------------------------ networks
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_parameter_counts(arch):
    with torch.device("meta"):  # no memory, no init cost; same module tree
        model = build_cnn(arch)
    assert sum(p.numel() for p in model.parameters()) == N_PARAMETERS[arch]
    names = {n for n, _ in model.named_modules()}
    assert set(DEFAULT_LAYERS[arch]) <= names


def test_published_counts_constant():
    assert N_PARAMETERS == {
        "alexnet": 61_100_840,
        "resnet18": 11_689_512,
        "vgg11": 132_863_336,
        "squeezenet1_1": 1_235_496,
        # EfficientNet-Lite: 4.7 M, 5.4 M, 6.1 M published (TensorFlow release)
        "efficientnet_lite0": 4_652_008,
        "efficientnet_lite1": 5_416_680,
        "efficientnet_lite2": 6_092_072,
    }


def test_seeded_init(squeeze0):
    same = build_cnn("squeezenet1_1", seed=0)
    other = build_cnn("squeezenet1_1", seed=1)
    sa, sb, sc = squeeze0.state_dict(), same.state_dict(), other.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert not squeeze0.training
    # the caller's global RNG is untouched
    torch.manual_seed(123)
    a = torch.rand(3)
    torch.manual_seed(123)
    build_cnn("squeezenet1_1", seed=5)
    assert torch.equal(torch.rand(3), a)


def test_weights_from_local_file(tmp_path, squeeze0):
    src = build_cnn("squeezenet1_1", seed=7)
    path = tmp_path / "squeeze.pth"
    torch.save(src.state_dict(), path)
    loaded = build_cnn("squeezenet1_1", seed=0, weights=str(path))
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in src.state_dict().items())
    with pytest.raises(InputError, match="does not exist"):
        build_cnn("squeezenet1_1", weights=str(tmp_path / "missing.pth"))
    torch.save(squeeze0.state_dict(), tmp_path / "wrong.pth")
    with pytest.raises(InputError, match="wrong.pth"):
        build_cnn("resnet18", weights=str(tmp_path / "wrong.pth"))


@pytest.mark.skipif(
    _torchvision() is not None, reason="torchvision importable: names are downloaded"
)
def test_weights_name_without_torchvision():
    with pytest.raises(InputError, match="torchvision"):
        build_cnn("alexnet", weights="IMAGENET1K_V1")


@pytest.mark.skipif(_torchvision() is None, reason="torchvision not importable")
@pytest.mark.parametrize("arch", ["alexnet", "resnet18", "squeezenet1_1"])
def test_builtin_matches_torchvision(arch):
    model = build_cnn(arch, seed=3)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        ours = architectures.ARCHITECTURES[arch]()
    sa, sb = model.state_dict(), ours.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_unknown_arch_and_layer(small_images, squeeze0):
    with pytest.raises(InputError, match=r"^arch: unknown architecture 'lenet'.*alexnet, resnet18"):
        build_cnn("lenet")
    with pytest.raises(
        InputError, match=r"^layers: unknown layer name\(s\) 'features\.99'.*features\.12"
    ):
        cnn_activations(squeeze0, small_images[0][:2], ["features.1", "features.99"])


def test_reused_module_rejected(small_images):
    model = build_cnn("resnet18")
    with pytest.raises(InputError, match="more than once"):
        cnn_activations(model, small_images[0][:2], ["layer1.0.relu"])


# --------------------------------------------------------------------------------- activations
def test_activation_shapes_and_order(small_images, squeeze0):
    images = small_images[0]
    layers = ["classifier.2", "features.1", "features.7"]
    acts = cnn_activations(squeeze0, images, layers, batch_size=5)
    assert list(acts) == layers
    assert {k: v.shape for k, v in acts.items()} == {
        "classifier.2": (12, 1000),
        "features.1": (12, 64),
        "features.7": (12, 256),
    }
    assert all(v.dtype == np.float32 for v in acts.values())
    # defaults, batch-size invariance, gap = mean of the unpooled map
    full = cnn_activations(squeeze0, images, arch="squeezenet1_1", batch_size=12)
    assert list(full) == list(DEFAULT_LAYERS["squeezenet1_1"])
    np.testing.assert_allclose(full["features.7"], acts["features.7"], rtol=1e-4, atol=1e-6)
    flat = cnn_activations(squeeze0, images, ["features.1"], pooling="none")["features.1"]
    assert flat.shape[0] == 12 and flat.shape[1] % 64 == 0
    np.testing.assert_allclose(
        flat.reshape(12, 64, -1).mean(axis=2), acts["features.1"], rtol=1e-4, atol=1e-6
    )


def test_activations_seeded(small_images):
    images = small_images[0][:6]
    a = cnn_activations(build_cnn("alexnet", seed=0), images, arch="alexnet")
    b = cnn_activations(build_cnn("alexnet", seed=0), images, arch="alexnet")
    c = cnn_activations(build_cnn("alexnet", seed=1), images, arch="alexnet")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        assert not np.allclose(a[k], c[k])
    assert [v.shape[1] for v in a.values()] == [64, 192, 384, 256, 256, 4096, 4096]


def test_projection_in_activations(small_images, squeeze0):
    images = small_images[0]
    flat = cnn_activations(squeeze0, images, ["features.1", "classifier.2"], pooling="none")
    proj = cnn_activations(
        squeeze0,
        images,
        ["features.1", "classifier.2"],
        pooling="none",
        max_units=200,
        projection_seed=4,
        batch_size=5,
        projection_buffer_mb=0.01,
    )  # forces several projection blocks
    for k in flat:
        assert proj[k].shape == (12, 200)
        np.testing.assert_allclose(
            proj[k],
            random_projection(flat[k], 200, seed=4),
            rtol=1e-4,
            atol=1e-4 * np.abs(proj[k]).max(),
        )
    gap = cnn_activations(squeeze0, images, ["features.1"], max_units=1000)
    assert gap["features.1"].shape == (12, 64)  # ≤ max_units: left as is


def test_random_projection_brute_force_and_jl():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 3000)).astype(np.float32)
    k = 512
    y = random_projection(x, k, seed=3, chunk_rows=1000)
    np.testing.assert_array_equal(y, random_projection(x, k, seed=3, chunk_rows=1000))
    assert not np.allclose(y, random_projection(x, k, seed=4, chunk_rows=1000))
    # brute force: build R explicitly, block by block, by the documented rule
    blocks = []
    for c in range(3):
        s = np.random.SeedSequence([3, c]).generate_state(1, np.uint64)[0]
        g = torch.Generator().manual_seed(int(s) & 0x7FFF_FFFF_FFFF_FFFF)
        blocks.append(torch.randn(1000, k, generator=g).mul_(1.0 / math.sqrt(k)).numpy())
    R = np.concatenate(blocks)
    np.testing.assert_array_equal(R, projection_matrix(3000, k, seed=3, chunk_rows=1000))
    brute = x.astype(np.float64) @ R.astype(np.float64)
    np.testing.assert_allclose(y, brute, rtol=1e-4, atol=1e-4)
    assert abs(R.var() * k - 1) < 0.01
    # Johnson–Lindenstrauss: pairwise distances preserved to ~sqrt(2/k) ≈ 6 %
    i, j = np.triu_indices(20, 1)
    d0 = np.linalg.norm(x[i] - x[j], axis=1)
    d1 = np.linalg.norm(y[i] - y[j], axis=1)
    ratio = d1 / d0
    assert ratio.min() > 0.8 and ratio.max() < 1.2
    assert abs(np.mean(ratio**2) - 1) < 0.05


# -------------------------------------------------------------------------------- simulated IT
def test_simulate_it(small_images):
    images = small_images[0]
    y, sites = simulate_it(images, n_sites=30, n_repetitions=3, seed=0)
    assert y.shape == (12, 30, 3) and y.dtype == np.float32
    y2, sites2 = simulate_it(images, n_sites=30, n_repetitions=3, seed=0)
    np.testing.assert_array_equal(y, y2)
    assert sites.equals(sites2)
    y3, _ = simulate_it(images, n_sites=30, n_repetitions=3, seed=1)
    assert not np.allclose(y, y3)
    assert list(sites["target_name"][:2]) == ["site0000", "site0001"]
    assert list(sites["target"]) == list(range(30))
    assert sites["true_reliability"].std() > 0.05
    assert sites["noise_sd"].between(0.5, 2.0).all()
    # noiseless: repetitions identical, unit-variance signal, sites differ from each other
    y0, _ = simulate_it(images, n_sites=30, n_repetitions=2, noise=0.0, seed=0)
    np.testing.assert_array_equal(y0[..., 0], y0[..., 1])
    np.testing.assert_allclose(y0[..., 0].std(axis=0), 1.0, rtol=1e-4)
    assert np.abs(np.corrcoef(y0[..., 0].T)[np.triu_indices(30, 1)]).mean() < 0.9


def test_simulated_reliabilities_vary():
    images, _ = make_images(60, 64, seed=0)
    y, sites = simulate_it(images, n_sites=40, n_repetitions=2, seed=0)
    r = np.array([np.corrcoef(y[:, n, 0], y[:, n, 1])[0, 1] for n in range(40)])
    sb = 2 * r / (1 + r)
    assert sb.max() - sb.min() > 0.3
    # the empirical split-half reliability tracks the true one
    assert np.corrcoef(sb, sites["true_reliability"])[0, 1] > 0.5


def test_simulate_bad_options(small_images):
    with pytest.raises(InputError, match="^simulation:"):
        simulate_it(small_images[0], n_sites=0)
    with pytest.raises(InputError, match="noise"):
        simulate_it(small_images[0], noise=-1)


def test_signature_defaults_equal_schema_defaults():
    """The functions' keyword defaults are the config schema's (the schema is the documentation)."""
    import inspect

    study = SCHEMA["definitions"]["it_study"]["properties"]
    images = study["images"]["properties"]
    make = inspect.signature(make_images).parameters
    assert make["n_images"].default == images["n_images"]["default"]
    assert make["size"].default == images["image_size"]["default"]
    assert make["seed"].default == images["seed"]["default"]
    sim = inspect.signature(simulate_it).parameters
    for key, spec in study["simulate"]["properties"].items():
        assert sim[key].default == spec["default"], key
    model = next(iter(study["models"]["patternProperties"].values()))["properties"]
    act = inspect.signature(cnn_activations).parameters
    for key in ("layers", "pooling", "max_units", "projection_seed", "batch_size"):
        assert act[key].default == model[key]["default"], key
    build = inspect.signature(build_cnn).parameters
    assert build["seed"].default == model["init_seed"]["default"]
    assert build["weights"].default == model["weights"]["default"]


# ------------------------------------------------------------------------- timing (opt-in)
@pytest.mark.skipif(
    not os.environ.get("PREDICTIVITY_IT_TIMING"),
    reason="set PREDICTIVITY_IT_TIMING=1 to time 300 images × 7 architectures",
)
def test_forward_timing():
    images, _ = make_images(300, 224, seed=0)
    for arch in ARCHITECTURES:
        model = build_cnn(arch, seed=0)
        t = time.perf_counter()
        cnn_activations(model, images, arch=arch, threads=2, **preprocessing(arch))
        print(
            f"{arch}: {time.perf_counter() - t:.1f} s for 300 images (gap, default layers, 2 threads)"
        )
