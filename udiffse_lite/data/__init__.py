"""Data for the course: the offline audio-visual teaching corpus, noise, mixtures, real corpora.

Notebook: 10_seeing_speech.ipynb
"""
from .corpus import PRESETS, SPLITS, add_cli, build_corpus, load_metadata
from .datasets import CropDataset, SynthNoiseDataset, UtteranceDataset
from .mix import SNR_PRESETS, active_power, make_separation_mixtures, make_test_mixtures, mix, snr_active
from .noise import NOISE_TYPES, load_noise_folder, make_noise
from .text import make_sentences, normalise_text

__all__ = ["CropDataset", "SynthNoiseDataset", "UtteranceDataset", "NOISE_TYPES", "PRESETS", "SNR_PRESETS", "SPLITS", "active_power", "add_cli", "build_corpus",
           "load_metadata", "load_noise_folder", "make_separation_mixtures", "make_test_mixtures", "make_noise", "make_sentences", "mix", "normalise_text",
           "snr_active"]
