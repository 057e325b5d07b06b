"""Unit tests of the auditory study kind (predictivity.studies.auditory).

Small and fast: a handful of short sounds. The pretrained networks are checked for *meaning*
(CREPE's pitch of a 220 Hz harmonic tone; Resemblyzer separating two synthetic voices), with the
untrained twins as the negative control, and with every network connection refused.
"""

import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.io import wavfile

from predictivity.errors import InputError
from predictivity.studies.auditory.crepe import CREPE_LAYERS, crepe_pitch
from predictivity.studies.auditory.filterbank import filterbank_activations
from predictivity.studies.auditory.models import MODELS, model_activations, model_family
from predictivity.studies.auditory.resemblyzer import RESEMBLYZER_LAYERS, resemblyzer_activations
from predictivity.studies.auditory.simulate import SIM_GROUPS, simulate_voxels
from predictivity.studies.auditory.sounds import _VOICES, CATEGORIES, _sound, synthesize_sounds
from predictivity.studies.auditory.wav import load_wav_folder
from predictivity.studies.auditory.waveforms import normalise

SR = 16000
SCHEMA = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml").read_text()
)


@pytest.fixture
def offline(monkeypatch):
    """No network: HF_HUB_OFFLINE=1 and every socket connection refused."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise OSError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def sounds():
    """22 sounds (2 per category), 1 s each."""
    return synthesize_sounds(n_sounds=22, duration=1.0, seed=3)


def speech(voice, seed, duration=2.0):
    """One speech-like utterance (the ``speech_like`` category's generator) of a synthetic voice:
    ``"male"``, ``"female"`` or ``"child"`` (f0 range and formant scale); ``seed`` draws f0, the
    contour and the syllables."""
    names = [v[0] for v in _VOICES]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 9999]))
    x, _, _ = _sound("speech_like", names.index(voice), len(names), rng, int(duration * SR), SR)
    return normalise(x, SR).astype(np.float32)


def harmonic_tone(f0, duration=1.0):
    t = np.arange(int(duration * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 9))
    return (0.9 * x / np.abs(x).max()).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# stimuli
# ---------------------------------------------------------------------------------------------
def test_synthesized_sounds_ids_categories_and_seed(sounds):
    waves, stim = sounds
    assert waves.shape == (22, SR) and waves.dtype == np.float32
    assert list(stim.columns[:3]) == ["stimulus_id", "category", "description"]
    assert stim.stimulus_id.tolist() == [f"snd{i:03d}" for i in range(22)]
    assert stim.stimulus_id.is_unique
    assert stim.category.value_counts().to_dict() == {c: 2 for c in CATEGORIES}
    assert list(dict.fromkeys(stim.category)) == list(CATEGORIES)
    assert np.all(np.isfinite(waves))
    np.testing.assert_allclose(np.abs(waves).max(axis=1), 0.9, rtol=1e-5)
    assert np.abs(waves[:, :2]).max() < 0.05 and np.abs(waves[:, -2:]).max() < 0.05  # ramps

    again, stim2 = synthesize_sounds(n_sounds=22, duration=1.0, seed=3)
    np.testing.assert_array_equal(waves, again)
    pd.testing.assert_frame_equal(stim, stim2)
    other, _ = synthesize_sounds(n_sounds=22, duration=1.0, seed=4)
    assert not np.allclose(waves, other)

    # the default demo set: 165 sounds, 15 per category, ids snd000 … snd164
    _, full = synthesize_sounds(duration=0.2)
    assert len(full) == 165 and full.stimulus_id.iloc[-1] == "snd164"
    assert set(full.category.value_counts()) == {15}


def test_simulated_voxels_deterministic(sounds):
    waves, _ = sounds
    y, vox = simulate_voxels(waves, SR, n_voxels=30, n_repetitions=3, seed=1)
    assert y.shape == (22, 30, 3) and y.dtype == np.float32 and np.all(np.isfinite(y))
    assert vox.target.tolist() == list(range(30)) and vox.target_name.is_unique
    assert {"noise_sd", "snr", "true_reliability", "dominant_feature"} <= set(vox.columns)
    assert set(vox.dominant_feature) <= set(SIM_GROUPS)
    np.testing.assert_allclose(vox[[f"w_{g}" for g in SIM_GROUPS]].sum(axis=1), 1.0)
    # signal has unit variance over sounds: the repetition mean's variance ≈ 1 + σ²/R
    y2, vox2 = simulate_voxels(waves, SR, n_voxels=30, n_repetitions=3, seed=1)
    np.testing.assert_array_equal(y, y2)
    pd.testing.assert_frame_equal(vox, vox2)
    y3, _ = simulate_voxels(waves, SR, n_voxels=30, n_repetitions=3, seed=2)
    assert not np.allclose(y, y3)
    quiet, _ = simulate_voxels(waves, SR, n_voxels=30, n_repetitions=2, noise=0.0, seed=1)
    np.testing.assert_allclose(quiet[..., 0], quiet[..., 1])
    np.testing.assert_allclose(quiet[..., 0].std(axis=0), 1.0, rtol=1e-4)


def test_signature_defaults_equal_schema_defaults():
    """The functions' keyword defaults are the config schema's (the schema is the documentation)."""
    import inspect

    study = SCHEMA["definitions"]["auditory_study"]["properties"]
    synth = inspect.signature(synthesize_sounds).parameters
    for key, spec in study["sounds"]["properties"].items():
        if key in synth:
            assert synth[key].default == spec["default"], key
    assert {"n_sounds", "duration", "sample_rate", "seed"} <= set(synth)
    sim = inspect.signature(simulate_voxels).parameters
    for key, spec in study["simulate"]["properties"].items():
        assert sim[key].default == spec["default"], key
    model = next(iter(study["models"]["patternProperties"].values()))["properties"]
    assert (
        inspect.signature(model_activations).parameters["seed"].default
        == (model["init_seed"]["default"])
    )


# ---------------------------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------------------------
def test_activation_shapes_layer_order_and_untrained_seed(sounds, offline):
    waves, _ = sounds
    few = waves[[0, 5, 15, 17]]
    expected = {
        "crepe_tiny": dict(zip(CREPE_LAYERS, [16384, 1024, 512, 256, 256, 256, 360])),
        "resemblyzer": dict(zip(RESEMBLYZER_LAYERS, [40, 256, 256, 256, 256])),
        "filterbank": {"cochleagram": 64, "mod_low": 1280, "mod_mid": 1280, "mod_high": 1280},
    }
    for name, layers in expected.items():
        acts = model_activations(name, few, SR, threads=1)
        assert list(acts) == list(layers), name
        for layer, units in layers.items():
            assert acts[layer].shape == (4, units) and acts[layer].dtype == np.float32, (
                name,
                layer,
            )
            assert np.all(np.isfinite(acts[layer])), (name, layer)
    for name in ("crepe_tiny_untrained", "resemblyzer_untrained"):
        a = model_activations(name, few, SR, seed=5)
        b = model_activations(name, few, SR, seed=5)
        c = model_activations(name, few, SR, seed=6)
        assert list(a) == list(expected[name.split("_untrained")[0]])
        for layer in a:
            np.testing.assert_array_equal(a[layer], b[layer])
        assert not np.allclose(a[list(a)[1]], c[list(c)[1]])
    # the filter bank is deterministic and has no untrained twin
    assert "filterbank_untrained" not in MODELS


def test_crepe_pretrained_pitch_is_right(offline):
    """The packaged CREPE weights estimate the pitch of harmonic tones within 3 %; the untrained
    twin does not (so this checks the weights, not the decoding)."""
    tones = np.stack([harmonic_tone(f) for f in (110.0, 220.0, 440.0)])
    f0, periodicity = crepe_pitch(tones, SR)
    estimate = np.median(f0[:, 5:-5], axis=1)
    np.testing.assert_allclose(estimate, [110.0, 220.0, 440.0], rtol=0.03)
    assert np.median(periodicity) > 0.5
    f0_random, _ = crepe_pitch(tones[1:2], SR, trained=False, seed=0)
    assert abs(np.median(f0_random) / 220.0 - 1) > 0.03
    # a 44.1 kHz input is resampled to 16 kHz first
    t = np.arange(44100) / 44100
    tone44 = sum(np.sin(2 * np.pi * 220 * h * t) / h for h in range(1, 9)).astype(np.float32)
    f0_44, _ = crepe_pitch(tone44[None], 44100)
    assert abs(np.median(f0_44) / 220.0 - 1) < 0.03


def test_resemblyzer_pretrained_separates_voices(offline):
    """Two utterances of one synthetic voice embed closer than utterances of two voices with the
    packaged weights; with random weights every embedding is nearly the same vector."""
    utts = np.stack([speech(v, seed=s) for v in ("male", "child") for s in (1, 2)])
    same_pairs, diff_pairs = [(0, 1), (2, 3)], [(0, 2), (0, 3), (1, 2), (1, 3)]

    def margin(trained):
        e = resemblyzer_activations(utts, SR, trained=trained)["embedding"]
        np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)
        cos = e @ e.T
        return min(cos[p] for p in same_pairs) - max(cos[p] for p in diff_pairs)

    assert margin(True) > 0.05
    assert margin(False) < 0.02


def test_unknown_model_is_an_input_error():
    with pytest.raises(InputError) as err:
        model_activations(
            "wav2vec", np.zeros((2, 1600), np.float32), SR, source="studies.aud.models"
        )
    msg = str(err.value)
    assert err.value.source == "studies.aud.models"
    assert "wav2vec" in msg and "crepe_tiny" in msg and "resemblyzer" in msg and "filterbank" in msg
    assert model_family("crepe_tiny_untrained") == "crepe"
    with pytest.raises(InputError, match="hop_size"):
        model_activations(
            "crepe_tiny", np.zeros((2, 1600), np.float32), SR, options={"hop_size": 3}
        )


# ---------------------------------------------------------------------------------------------
# WAV folders
# ---------------------------------------------------------------------------------------------
def test_wav_round_trip(tmp_path):
    t16 = np.arange(int(1.5 * SR)) / SR
    mono = 0.5 * np.sin(2 * np.pi * 300 * t16)
    wavfile.write(tmp_path / "a_mono16k.wav", SR, np.round(mono * 32767).astype(np.int16))
    t44 = np.arange(int(3.0 * 44100)) / 44100
    stereo = np.stack(
        [0.3 * np.sin(2 * np.pi * 440 * t44), 0.3 * np.sin(2 * np.pi * 440 * t44)], axis=1
    )
    wavfile.write(tmp_path / "b_stereo44k.wav", 44100, stereo.astype(np.float32))
    (tmp_path / "notes.txt").write_text("not a sound")

    waves, stim = load_wav_folder(tmp_path, duration=2.0, normalize=False)
    assert waves.shape == (2, 2 * SR) and waves.dtype == np.float32
    assert stim.stimulus_id.tolist() == ["a_mono16k", "b_stereo44k"]
    assert stim.original_sample_rate.tolist() == [SR, 44100]
    assert stim.original_channels.tolist() == [1, 2]
    np.testing.assert_allclose(stim.original_duration, [1.5, 3.0])
    # 16 kHz mono: samples kept (int16 quantisation), padded with zeros after 1.5 s
    n = int(1.5 * SR)
    np.testing.assert_allclose(waves[0, 200 : n - 200], mono[200 : n - 200], atol=1e-4)
    assert np.all(waves[0, n:] == 0)
    # 44.1 kHz stereo: resampled to 16 kHz, mixed to mono, trimmed to 2 s; still 440 Hz, amp 0.3
    spec = np.abs(np.fft.rfft(waves[1]))
    assert abs(np.fft.rfftfreq(waves.shape[1], 1 / SR)[spec.argmax()] - 440) < 1.0
    assert abs(np.abs(waves[1, SR // 2 : SR]).max() - 0.3) < 0.01

    # a list of files keeps the given order; normalisation gives peak 0.9
    waves2, stim2 = load_wav_folder([tmp_path / "b_stereo44k.wav", tmp_path / "a_mono16k.wav"])
    assert stim2.stimulus_id.tolist() == ["b_stereo44k", "a_mono16k"]
    np.testing.assert_allclose(np.abs(waves2).max(axis=1), 0.9, rtol=1e-5)
    # and feeds the models
    acts = filterbank_activations(waves2, SR)
    assert acts["cochleagram"].shape == (2, 64)


def test_wav_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError) as err:
        load_wav_folder(empty)
    assert err.value.source == str(empty) and "no .wav" in str(err.value)

    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    wavfile.write(bad_dir / "good.wav", SR, np.zeros(SR, np.int16) + 100)
    (bad_dir / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00garbage, not a wave file")
    with pytest.raises(InputError) as err:
        load_wav_folder(bad_dir)
    assert err.value.source == str(bad_dir / "broken.wav") and "cannot be read" in str(err.value)

    with pytest.raises(InputError) as err:
        load_wav_folder(tmp_path / "missing")
    assert "does not exist" in str(err.value)
