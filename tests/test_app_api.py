"""The explorer's HTTP API through FastAPI's test client: every endpoint, good and bad input."""

import io
import time

import numpy as np
import pytest
from _tiny_runs import LATENT, tiny_runs
from fastapi.testclient import TestClient
from PIL import Image

from untwine.app import create_app
from untwine.app.images import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS
from untwine.app.server import ExplorerLimits

SIZE = 32


def fake_rationale(encode, decode, classifier, images, target=None, progress=None):
    """A stand-in for untwine.explain.rationale: moves every code by one along z0 and reports
    progress, so the endpoint's plumbing is tested without the algorithm."""
    from types import SimpleNamespace

    import torch

    z = encode(images)
    for step in range(3):
        progress(step + 1, 3)
    moved = z.clone()
    moved[:, 0] += 1
    reconstruction, counterfactual = decode(z), decode(moved)
    return SimpleNamespace(reconstruction=reconstruction, counterfactual=counterfactual,
                           difference=counterfactual - reconstruction,
                           trajectory=torch.softmax(classifier(z), 1)[:, :1].T,
                           reached=torch.ones(len(z), dtype=torch.bool), steps=torch.full((len(z),), 3))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    a, b = tiny_runs(tmp_path_factory.getbasetemp())
    with TestClient(create_app([a, b], rationale=fake_rationale)) as client:
        yield client


def png(array: np.ndarray, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=format)
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """The first chunks of a greyscale PNG of this size: enough for a decoder to read its size."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def decode_data_uri(uri: str) -> Image.Image:
    import base64

    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def upload(client, data: bytes, name: str = "x.png", run: int = 0):
    return client.post(f"/api/runs/{run}/encode", files={"file": (name, data, "application/octet-stream")})


def assert_refused(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "Traceback" not in detail
    for word in words:
        assert word in detail, detail


def test_runs_lists_each_run_with_dimensions_ordered_by_kl(client):
    runs = client.get("/api/runs").json()["runs"]
    assert [r["name"] for r in runs] == ["beta1", "beta4"]
    for run in runs:
        kls = [d["kl"] for d in run["dims"]]
        assert kls == sorted(kls, reverse=True)
        assert sorted(d["dim"] for d in run["dims"]) == list(range(LATENT))
        assert run["size"] == SIZE and run["channels"] == 1
        assert run["dataset_classes"] == ["square", "ellipse", "heart"]
    assert runs[0]["classifier"] == {"classes": ["square", "ellipse", "heart"]}
    assert runs[1]["classifier"] is None


def test_static_files_only_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/style.css").status_code == 200
    for name in ("config.yaml", "..%2Fconfig.yaml", "server.py", "%2Fetc%2Fpasswd"):
        assert client.get(f"/static/{name}").status_code == 404
    assert client.get("/static/../server.py").status_code == 404
    assert client.get("/model.safetensors").status_code == 404


def test_dataset_image_by_index(client):
    answer = client.get("/api/runs/0/images/5").json()
    assert answer["index"] == 5 and len(answer["z"]) == LATENT
    assert answer["class_name"] == ["square", "ellipse", "heart"][answer["label"]]
    assert decode_data_uri(answer["image"]).size == (SIZE, SIZE)
    assert decode_data_uri(answer["reconstruction"]).size == (SIZE, SIZE)
    assert set(answer["prediction"]["probabilities"]) == {"square", "ellipse", "heart"}
    assert client.get("/api/runs/1/images/5").json()["prediction"] is None
    assert_refused(client.get("/api/runs/0/images/100000"), 404, "outside")
    assert_refused(client.get("/api/runs/0/images/-1"), 404, "outside")
    assert_refused(client.get("/api/runs/0/images/abc"), 422, "index")
    assert_refused(client.get("/api/runs/7/images/0"), 404, "no run 7")


def test_dataset_image_by_class(client):
    first_ellipse = client.get("/api/runs/0/classes/ellipse").json()
    assert first_ellipse["class_name"] == "ellipse"
    second = client.get("/api/runs/0/classes/ellipse", params={"nth": 1}).json()
    assert second["index"] > first_ellipse["index"]
    assert client.get("/api/runs/0/classes/2").json()["class_name"] == "heart"
    assert_refused(client.get("/api/runs/0/classes/circle"), 404, "circle")
    assert_refused(client.get("/api/runs/0/classes/7"), 404, "no class")
    assert_refused(client.get("/api/runs/0/classes/heart", params={"nth": 10**6}), 404, "images")
    assert_refused(client.get("/api/runs/0/classes/heart", params={"nth": -1}), 422, "nth")


def test_upload_encodes_png_and_jpeg_resized_to_the_model(client):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (50, 70), dtype=np.uint8)
    answer = upload(client, png(grey)).json()
    assert decode_data_uri(answer["image"]).size == (SIZE, SIZE) and len(answer["z"]) == LATENT
    assert upload(client, png(grey, "JPEG"), "x.jpg").status_code == 200
    # greyscale stored as RGB is greyscale
    assert upload(client, png(np.repeat(grey[..., None], 3, axis=2))).status_code == 200


def test_uploads_refused_with_a_message(client):
    rng = np.random.default_rng(1)
    colour = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    assert_refused(upload(client, b"just some text\n", "notes.txt"), 415, "PNG or JPEG")
    assert_refused(upload(client, png(colour)[:200]), 400, "could not be decoded")
    assert_refused(upload(client, png(colour)), 422, "greyscale", "colour")
    rgba = np.dstack([colour, np.full((40, 40), 128, np.uint8)])
    assert_refused(upload(client, png(rgba)), 422, "transparent")
    assert_refused(upload(client, png(colour[..., 0], "GIF"), "x.gif"), 415, "GIF")
    assert_refused(upload(client, b""), 400, "empty")
    assert_refused(upload(client, b"\0" * (MAX_UPLOAD_BYTES + 100_000)), 413, "limited")
    # a 20000x20000 PNG (its header alone): too large, said so with the limit, not "undecodable"
    assert_refused(upload(client, png_header(20000, 20000)), 413, "too large", "400000000 pixels",
                   f"the limit is {MAX_UPLOAD_PIXELS} pixels")
    assert_refused(upload(client, png_header(5000, 5000)), 413, "5000x5000", f"{MAX_UPLOAD_PIXELS} pixels")
    assert_refused(client.post("/api/runs/0/encode"), 422, "file")
    assert_refused(upload(client, png(colour[..., 0]), run=3), 404, "no run 3")


def test_decode_matches_the_reconstruction_and_follows_the_code(client):
    answer = client.get("/api/runs/0/images/3").json()
    decoded = client.post("/api/runs/0/decode", json={"z": answer["z"]})
    assert decoded.headers["content-type"] == "image/png"
    pixels = np.asarray(Image.open(io.BytesIO(decoded.content)))
    assert np.abs(pixels.astype(int) - np.asarray(decode_data_uri(answer["reconstruction"]))).max() <= 1
    moved = [v + (4.0 if d == 0 else 0.0) for d, v in enumerate(answer["z"])]
    moved_pixels = np.asarray(Image.open(io.BytesIO(client.post("/api/runs/0/decode", json={"z": moved}).content)))
    assert (moved_pixels != pixels).any()


def test_decode_refuses_bad_codes(client):
    good = [0.0] * LATENT
    assert_refused(client.post("/api/runs/0/decode", json={"z": good[:-1]}), 422, f"{LATENT} latent dimensions")
    assert_refused(client.post("/api/runs/0/decode", json={"z": [*good[:-1], 1e3]}), 422, "z.3")
    assert_refused(client.post("/api/runs/0/decode", json={"z": ["a", *good[1:]]}), 422, "z.0")
    assert_refused(client.post("/api/runs/0/decode", json={"z": "0,0,0,0"}), 422, "z")
    assert_refused(client.post("/api/runs/0/decode", json={}), 422, "z")
    assert_refused(client.post("/api/runs/0/decode", json={"z": good, "x": 1}), 422, "x")
    nan = client.post("/api/runs/0/decode", content=b'{"z": [NaN, 0, 0, 0]}',
                      headers={"content-type": "application/json"})
    assert_refused(nan, 422, "z.0")
    assert_refused(client.post("/api/runs/0/decode", content=b"{not json",
                               headers={"content-type": "application/json"}), 422)
    assert_refused(client.post("/api/runs/9/decode", json={"z": good}), 404, "no run 9")


def test_traverse_draws_a_strip_of_the_chosen_dimension(client):
    z = [0.0] * LATENT
    strip = client.post("/api/runs/1/traverse", json={"z": z, "dim": 2, "steps": 5})
    assert strip.headers["content-type"] == "image/png"
    picture = Image.open(io.BytesIO(strip.content))
    assert picture.size == (5 * (SIZE + 1), SIZE + 1)
    assert_refused(client.post("/api/runs/1/traverse", json={"z": z, "dim": LATENT}), 422, "dim")
    assert_refused(client.post("/api/runs/1/traverse", json={"z": z, "dim": -1}), 422, "dim")
    assert_refused(client.post("/api/runs/1/traverse", json={"z": z, "dim": 0, "steps": 1}), 422, "steps")
    assert_refused(client.post("/api/runs/1/traverse", json={"z": z, "dim": 0, "steps": 500}), 422, "steps")


def test_predict_needs_a_classifier(client):
    probabilities = client.post("/api/runs/0/predict", json={"z": [0.5] * LATENT}).json()["prediction"]
    assert sum(probabilities["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert_refused(client.post("/api/runs/1/predict", json={"z": [0.5] * LATENT}), 409, "no latent classifier")
    assert_refused(client.post("/api/runs/0/predict", json={"z": [0.5]}), 422, "latent dimensions")


def test_rationale_runs_as_a_job_with_progress(client):
    image = client.get("/api/runs/0/images/0").json()["image"]
    data = __import__("base64").b64decode(image.split(",", 1)[1])
    job = client.post("/api/runs/0/rationale", files={"file": ("x.png", data)}, data={"target": "heart"}).json()
    assert job["state"] in ("queued", "running", "done")
    deadline = time.time() + 30
    while job["state"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['job']}").json()
    assert job["state"] == "done", job
    assert job["progress"] == 1.0 and job["step"] == 3 and job["total"] == 3
    assert job["result"]["reached"] is True and job["result"]["steps"] == 3
    for key in ("reconstruction", "counterfactual", "difference"):
        assert decode_data_uri(job["result"][key]).size == (SIZE, SIZE)
    files = {"file": ("x.png", data)}
    assert_refused(client.post("/api/runs/0/rationale", files=files, data={"target": "circle"}), 422, "circle")
    assert_refused(client.post("/api/runs/1/rationale", files=files), 409, "no latent classifier")
    assert_refused(client.post("/api/runs/0/rationale", files={"file": ("x.txt", b"text")}), 415, "PNG")
    assert_refused(client.get("/api/jobs/nonexistent"), 404, "no job")


def test_a_broken_classifier_config_stops_the_explorer_with_a_message_naming_the_file(tmp_path_factory, tmp_path):
    import shutil

    from untwine.explain.run_classifier import CLASSIFIER_CONFIG

    a, _ = tiny_runs(tmp_path_factory.getbasetemp())
    copy = tmp_path / "copy"
    shutil.copytree(a, copy)
    (copy / CLASSIFIER_CONFIG).write_text("kind: forest\nclasses: [a, b]\nlatent_dim: 4\n")
    with pytest.raises(ValueError, match="unknown classifier kind 'forest'"):
        create_app([copy])
    (copy / CLASSIFIER_CONFIG).write_text("kind: linear\nclasses: [a, b, c]\nlatent_dim: 9\n")
    with pytest.raises(ValueError, match="latent_dim 9"):
        create_app([copy])
    (copy / CLASSIFIER_CONFIG).write_text("kind: linear\nclasess: [a, b]\nlatent_dim: 4\n")
    with pytest.raises(ValueError, match=str(copy / CLASSIFIER_CONFIG)):
        create_app([copy])


def test_serve_binds_to_this_machine_by_default(tmp_path_factory, monkeypatch):
    import uvicorn

    from untwine.cli import main

    a, b = tiny_runs(tmp_path_factory.getbasetemp())
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))
    assert main(["serve", str(a), str(b), "--port", "8999"]) == 0
    app, kwargs = calls[0]
    assert kwargs["host"] == "127.0.0.1" and kwargs["port"] == 8999
    assert [r.label for r in app.state.runs] == ["beta1", "beta4"]
    assert main(["serve", str(a.parent)]) == 2  # a folder of runs is not a run


def _image_bytes(client) -> bytes:
    import base64

    return base64.b64decode(client.get("/api/runs/0/images/0").json()["image"].split(",", 1)[1])


def test_rationale_jobs_are_bounded_and_time_out(tmp_path_factory):
    """A full queue answers 429 with a Retry-After; a job past its time limit fails, saying so."""
    import threading

    a, _ = tiny_runs(tmp_path_factory.getbasetemp())
    release = threading.Event()

    def slow_rationale(encode, decode, classifier, images, target=None, progress=None):
        step = 0
        while not release.is_set():  # like the real one: progress before each step
            step += 1
            progress(step, 10**6)
            time.sleep(0.01)
        return fake_rationale(encode, decode, classifier, images, target, progress)

    limits = ExplorerLimits(max_jobs=2, job_timeout=0.5)
    with TestClient(create_app([a], rationale=slow_rationale, limits=limits)) as client:
        data = _image_bytes(client)
        first, second = (client.post("/api/runs/0/rationale", files={"file": ("x.png", data)}).json()
                         for _ in range(2))
        refused = client.post("/api/runs/0/rationale", files={"file": ("x.png", data)})
        assert_refused(refused, 429, "2 rationale jobs are queued or running", "(2)")
        assert int(refused.headers["Retry-After"]) >= 1
        deadline = time.time() + 20
        job = first
        while job["state"] in ("queued", "running") and time.time() < deadline:
            time.sleep(0.05)
            job = client.get(f"/api/jobs/{first['job']}").json()
        assert job["state"] == "failed" and job["error"].startswith("timed out: stopped after 0.5 s")
        # the first job's slot is free again once it has failed
        assert client.post("/api/runs/0/rationale", files={"file": ("x.png", data)}).status_code == 200
        release.set()
        assert second["state"] in ("queued", "running")


def test_heavy_requests_beyond_the_cap_wait_then_get_429(tmp_path_factory):
    import threading

    a, _ = tiny_runs(tmp_path_factory.getbasetemp())
    limits = ExplorerLimits(max_heavy=1, heavy_wait=0.2)
    with TestClient(create_app([a], limits=limits)) as client:
        model = client.app.state.runs[0].run.model
        plain, entered, release = model.decode, threading.Event(), threading.Event()

        def held_decode(z):
            entered.set()
            release.wait(10)
            return plain(z)

        model.decode = held_decode
        answers = []
        holder = threading.Thread(target=lambda: answers.append(
            client.post("/api/runs/0/decode", json={"z": [0.0] * LATENT})))
        holder.start()
        assert entered.wait(10)
        busy = client.post("/api/runs/0/decode", json={"z": [0.0] * LATENT})
        assert_refused(busy, 429, "busy", "1 model requests")
        assert busy.headers["Retry-After"] == "1"
        release.set()
        holder.join(10)
        model.decode = plain
        assert answers[0].status_code == 200
        assert client.post("/api/runs/0/decode", json={"z": [0.0] * LATENT}).status_code == 200
