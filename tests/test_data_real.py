"""Download cache (file:// and a local HTTP server with Range resume), real-corpus layouts, real speech."""
import functools
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest
import soundfile as sf

from udiffse_lite.data.datasets import CropDataset, UtteranceDataset
from udiffse_lite.data.real import (ALSA_DIR, build_real_speech, download, load_folder, load_lrs3,
                                    load_ntcd_timit, load_tcd_timit, load_voicebank_demand)

SR = 16000


def _blob(tmp_path, n=300_000):
    data = np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8).tobytes()
    p = tmp_path / "src" / "blob.bin"
    os.makedirs(p.parent, exist_ok=True)
    p.write_bytes(data)
    return p, data, hashlib.sha256(data).hexdigest()


def test_download_file_url_resume_and_hash(tmp_path):
    src, data, sha = _blob(tmp_path)
    dest = tmp_path / "cache" / "blob.bin"
    os.makedirs(dest.parent)
    (tmp_path / "cache" / "blob.bin.part").write_bytes(data[:1000])  # an interrupted download
    assert download(src.as_uri(), str(dest), sha) == str(dest)
    assert dest.read_bytes() == data and not os.path.exists(str(dest) + ".part")
    src.write_bytes(b"changed")  # cached: the source is not read again
    assert download(src.as_uri(), str(dest), sha) == str(dest)
    with pytest.raises(RuntimeError, match="sha256 mismatch"):
        download(src.as_uri(), str(tmp_path / "other.bin"), sha)
    assert not os.path.exists(tmp_path / "other.bin.part")


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with single byte-range support (SimpleHTTPRequestHandler ignores Range)."""
    ranges = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        path = self.translate_path(self.path)
        data = open(path, "rb").read()
        rng = self.headers.get("Range")
        _RangeHandler.ranges.append(rng)
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            data = data[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_download_http_range_resume(tmp_path):
    src, data, sha = _blob(tmp_path)
    handler = functools.partial(_RangeHandler, directory=str(src.parent))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/blob.bin"
        dest = tmp_path / "dl" / "blob.bin"
        os.makedirs(dest.parent)
        (tmp_path / "dl" / "blob.bin.part").write_bytes(data[:12345])
        download(url, str(dest), sha)
        assert dest.read_bytes() == data
        assert _RangeHandler.ranges[-1] == "bytes=12345-"
    finally:
        srv.shutdown()


def _wav(path, seconds=1.0, sr=SR):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), sr)


def _lips(path, seconds=1.0):
    np.savez_compressed(path, frames=np.full((int(round(seconds * 25)), 88, 88), 100, np.uint8))


def test_tcd_and_ntcd_timit_layouts(tmp_path):
    root = tmp_path / "NTCD"
    for spk in ("01M", "02F"):
        for utt in ("sa1", "si100"):
            base = root / "clean" / "volunteers" / spk / "straightcam" / utt
            _wav(str(base) + ".wav", 2.2)
            _lips(str(base) + ".npz", 2.2)
            for noise in ("Babble", "Car"):
                for snr in ("-5", "0"):
                    _wav(str(root / noise / snr / "volunteers" / spk / "straightcam" / utt) + ".wav", 2.2)
    clean = load_tcd_timit(str(root / "clean"))
    assert [r["id"] for r in clean] == ["01M/sa1", "01M/si100", "02F/sa1", "02F/si100"]
    assert all(r["lips"].endswith(".npz") for r in clean)
    assert len(load_tcd_timit(str(root / "clean"), speakers=["02F"])) == 2
    noisy = load_ntcd_timit(str(root))
    assert len(noisy) == 4 * 2 * 2 and {r["snr"] for r in noisy} == {-5, 0}
    only = load_ntcd_timit(str(root), noise="car", snr=0)
    assert len(only) == 4 and all("Car/0/" in r["id"] and r["noisy"].endswith(".wav") for r in only)
    item = CropDataset(rows=clean, features="lips")[0]
    assert item["audio"].shape == (32640,) and item["video"].shape == (51, 88, 88)
    with pytest.raises(FileNotFoundError):
        load_ntcd_timit(str(root), noise="Rain")


def test_lrs3_layout(tmp_path):
    base = tmp_path / "LRS3" / "test" / "0Fi83BHQsMA"
    _wav(str(base / "00002.wav"), 1.5)
    (base / "00002.txt").write_text("Text:  HELLO THERE\nConf:  4\n")
    np.save(base / "00002.npy", np.zeros((38, 768), np.float32))  # AV-HuBERT-like features
    rows = load_lrs3(str(tmp_path / "LRS3"))
    assert rows[0]["id"] == "0Fi83BHQsMA/00002" and rows[0]["text"] == "HELLO THERE"
    assert rows[0]["features"].endswith("00002.npy") and rows[0]["lips"] is None
    it = UtteranceDataset(rows=rows, features="precomputed")[0]
    assert it["video"].shape == (38, 768)


def test_voicebank_demand_layout_resamples_48k(tmp_path):
    for kind in ("clean", "noisy"):
        for name in ("p232_001", "p257_010"):
            _wav(str(tmp_path / f"{kind}_testset_wav" / f"{name}.wav"), 1.0, sr=48000)
    rows = load_voicebank_demand(str(tmp_path), "test")
    assert [r["speaker"] for r in rows] == ["p232", "p257"]
    assert UtteranceDataset(rows=rows)[0]["audio"].shape == (SR,)
    with pytest.raises(FileNotFoundError):
        load_voicebank_demand(str(tmp_path), "train")
    with pytest.raises(ValueError):
        load_voicebank_demand(str(tmp_path), "dev")


def test_generic_folder_with_lips_and_features(tmp_path):
    _wav(str(tmp_path / "a" / "one.wav"), 2.1)
    np.save(tmp_path / "a" / "one.npy", np.zeros((52, 88, 88), np.uint8))  # 3-D: lip frames
    _wav(str(tmp_path / "two.wav"), 1.0)
    os.makedirs(tmp_path / "feats")
    np.save(tmp_path / "feats" / "two.npy", np.ones((25, 768), np.float32))
    rows = load_folder(str(tmp_path), features_dir=str(tmp_path / "feats"))
    by = {r["id"]: r for r in rows}
    assert by["a/one"]["lips"].endswith("one.npy") and by["a/one"]["features"] is None
    assert by["two"]["features"].endswith("two.npy") and by["two"]["lips"] is None
    assert CropDataset(rows=[by["a/one"]], features="lips")[0]["video"].shape == (51, 88, 88)
    with pytest.raises(FileNotFoundError):
        load_folder(str(tmp_path / "feats"))


@pytest.mark.skipif(not os.path.isdir(ALSA_DIR), reason="alsa-utils clips not installed")
def test_build_real_speech_offline(tmp_path):
    rows = build_real_speech(str(tmp_path / "real"), cache=str(tmp_path / "cache"), allow_download=False,
                             progress=False)
    alsa = [r for r in rows if r["source"] == "alsa-utils"]
    assert alsa and all(sf.info(r["wav"]).samplerate == SR for r in rows)
    assert os.path.exists(tmp_path / "real" / "real_speech.jsonl")
