"""The explorer's HTTP API and its static page (``untwine serve RUN [RUN ...]``).

The server knows the runs it was started with and nothing else: a client names a run by its
position in that list and a dataset image by its row, never a path. Static files come from the
package (a fixed list), so there is no file system to reach through the URL. Every bad request
(unknown run, row out of range, latent vector of the wrong length or with values out of range,
an upload that is not a PNG/JPEG or has the wrong channels) gets a 4xx with a message.

    GET  /api/runs                            the runs: latent size, dimensions ordered by KL, classes
    GET  /api/runs/{run}/images/{index}       a dataset image, its code and reconstruction
    GET  /api/runs/{run}/classes/{label}      the nth image of a class (?nth=), as above
    POST /api/runs/{run}/encode               an uploaded PNG/JPEG (form field ``file``), as above
    POST /api/runs/{run}/decode               {"z": [...]} -> image/png
    POST /api/runs/{run}/traverse             {"z": [...], "dim": d, "steps": n} -> image/png strip
    POST /api/runs/{run}/predict              {"z": [...]} -> the latent classifier's probabilities
    POST /api/runs/{run}/rationale            file + target -> a job id (rationales take seconds)
    GET  /api/jobs/{job}                      the job's progress, and its images when done

Limits (``ExplorerLimits``), so a page left open or a busy client cannot queue work without end: at
most ``max_jobs`` rationale jobs queued or running (the next is refused with 429 and a Retry-After),
each stopped after ``job_timeout`` seconds; at most ``max_heavy`` model requests (encode, decode,
traverse, predict) computing at once, the others waiting up to ``heavy_wait`` seconds for a turn and
then refused with 429 and a Retry-After.
"""

from __future__ import annotations

import base64
import io
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from untwine.app.images import MAX_UPLOAD_BYTES, UploadError, decode_upload, to_png
from untwine.explain.run_classifier import (
    LatentClassifier,
    RationaleFn,
    compute_rationale,
    load_classifier,
)
from untwine.explain.traverse import image_grid, kl_per_dimension
from untwine.models.likelihood import mean_image
from untwine.run import Run, load_run

Z_LIMIT = 10.0  # |z_d| beyond this is far outside any N(0, 1) prior: a client error, not a request
SLIDER_SPAN = 4.0
KL_REFERENCE = 512
MAX_STEPS = 24
STATIC_FILES = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
KEPT_JOBS = 32


@dataclass(frozen=True)
class ExplorerLimits:
    """How much work one explorer server takes on at once (see the module docstring)."""

    max_jobs: int = 4
    job_timeout: float = 120.0
    max_heavy: int = 4
    heavy_wait: float = 10.0


class Busy(Exception):
    """The server is at a limit: answered 429 with a Retry-After of ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class JobTimeout(Exception):
    """A rationale job ran past ``ExplorerLimits.job_timeout``."""

Coordinate = Annotated[float, Field(ge=-Z_LIMIT, le=Z_LIMIT, allow_inf_nan=False)]


class Code(BaseModel):
    model_config = ConfigDict(extra="forbid")

    z: list[Coordinate] = Field(min_length=1, max_length=1024)


class Traversal(Code):
    dim: int = Field(ge=0)
    steps: int = Field(9, ge=2, le=MAX_STEPS)
    span: float = Field(3.0, gt=0, le=Z_LIMIT, allow_inf_nan=False)


@dataclass
class ExplorerRun:
    """A run as the explorer serves it: the model, its dataset, and its dimensions ordered by KL."""

    id: int
    label: str
    run: Run
    dataset: Any
    kl: np.ndarray
    classifier: LatentClassifier | None

    @property
    def latent_dim(self) -> int:
        return self.run.model.latent_dim

    @property
    def channels(self) -> int:
        return self.run.model.config.channels

    @property
    def size(self) -> int:
        return self.run.model.config.size

    def describe(self) -> dict[str, Any]:
        order = np.argsort(-self.kl, kind="stable")
        return {
            "id": self.id,
            "name": self.label,
            "model": self.run.config.model.name,
            "latent_dim": self.latent_dim,
            "channels": self.channels,
            "size": self.size,
            "images": len(self.dataset),
            "dataset_classes": list(self.dataset.class_names),
            "dims": [{"dim": int(d), "kl": round(float(self.kl[d]), 4)} for d in order],
            "slider_span": SLIDER_SPAN,
            "z_limit": Z_LIMIT,
            "classifier": None if self.classifier is None else {"classes": self.classifier.classes},
        }


def open_run(run_id: int, run_dir: Path | str) -> ExplorerRun:
    """Load a run for the explorer; KL per dimension over a fixed sample of its dataset."""
    run = load_run(run_dir)
    dataset = run.dataset()
    picks = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:KL_REFERENCE]
    kl = kl_per_dimension(run.model, dataset.load(picks).images)
    classifier = load_classifier(run.dir, run.model.latent_dim)
    return ExplorerRun(run_id, run.config.name, run, dataset, kl, classifier)


@dataclass
class Job:
    id: str
    run: int
    started: float = field(default_factory=time.time)
    state: str = "queued"  # queued, running, done, failed
    ran: float | None = None  # time.monotonic() when it started running
    finished: float | None = None
    step: int = 0
    total: int | None = None
    result: dict[str, Any] | None = None
    error: str | None = None

    def describe(self) -> dict[str, Any]:
        progress = None if not self.total else min(1.0, self.step / self.total)
        if self.state == "done":
            progress = 1.0
        return {"job": self.id, "run": self.run, "state": self.state, "step": self.step,
                "total": self.total, "progress": progress,
                "elapsed": round(time.time() - self.started, 2), "result": self.result,
                "error": self.error}


def _png_uri(image: torch.Tensor) -> str:
    return "data:image/png;base64," + base64.b64encode(to_png(image)).decode("ascii")


def _static(name: str) -> Response:
    text = (resources.files("untwine.app") / "static" / name).read_text(encoding="utf-8")
    return Response(text, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"})


def create_app(run_dirs: Sequence[Path | str], rationale: RationaleFn | None = None,
               limits: ExplorerLimits | None = None) -> FastAPI:
    """The explorer over ``run_dirs``. ``rationale`` replaces the library's rationale function
    (untwine.explain.rationale.rationale), e.g. in tests; ``limits`` bounds the work it takes on."""
    if not run_dirs:
        raise ValueError("the explorer needs at least one run directory")
    limits = limits or ExplorerLimits()
    runs = [open_run(i, d) for i, d in enumerate(run_dirs)]
    jobs: OrderedDict[str, Job] = OrderedDict()
    jobs_lock = threading.Lock()
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rationale")
    heavy_slots = threading.BoundedSemaphore(limits.max_heavy)
    app = FastAPI(title="untwine explorer", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429,
                            headers={"Retry-After": str(exc.retry_after)})

    def heavy(compute, *args: Any) -> Any:
        """``compute(*args)`` in one of ``max_heavy`` slots; Busy when none frees up in time."""
        if not heavy_slots.acquire(timeout=limits.heavy_wait):
            raise Busy(f"the explorer is busy: {limits.max_heavy} model requests are computing and "
                       f"none finished within {limits.heavy_wait:g} s; retry shortly", retry_after=1)
        try:
            return compute(*args)
        finally:
            heavy_slots.release()

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"] if p not in ("body", "query", "path"))
            problems.append(f"{where or 'request'}: {error['msg']}")
        return JSONResponse({"detail": "; ".join(problems)}, status_code=422)

    @app.exception_handler(UploadError)
    async def upload_error(request: Request, exc: UploadError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        # refuse an oversized upload from its header, before it is read into memory or spooled
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_UPLOAD_BYTES + 65536:
            return JSONResponse({"detail": f"the request has {length} bytes; uploads are limited to "
                                           f"{MAX_UPLOAD_BYTES} bytes"}, status_code=413)
        return await call_next(request)

    def get_run(run_id: int) -> ExplorerRun:
        if not 0 <= run_id < len(runs):
            raise HTTPException(404, f"no run {run_id}; this explorer serves runs 0..{len(runs) - 1}")
        return runs[run_id]

    def code_of(entry: ExplorerRun, z: list[float]) -> torch.Tensor:
        if len(z) != entry.latent_dim:
            raise HTTPException(422, f"z has {len(z)} values; run {entry.id} ({entry.label}) has "
                                     f"{entry.latent_dim} latent dimensions")
        return torch.tensor([z], dtype=torch.float32)

    def prediction(entry: ExplorerRun, z: torch.Tensor) -> dict[str, Any] | None:
        if entry.classifier is None:
            return None
        probabilities = entry.classifier.probabilities(z)[0].tolist()
        classes = entry.classifier.classes
        return {"probabilities": dict(zip(classes, probabilities, strict=True)),
                "predicted": classes[int(np.argmax(probabilities))]}

    @torch.inference_mode()
    def encoded(entry: ExplorerRun, x: torch.Tensor, **extra: Any) -> dict[str, Any]:
        z = entry.run.model.encode(x).mean
        return {"run": entry.id, **extra, "image": _png_uri(x), "z": [round(v, 5) for v in z[0].tolist()],
                "reconstruction": _png_uri(mean_image(entry.run.model.decode(z))),
                "prediction": prediction(entry, z)}

    def dataset_image(entry: ExplorerRun, index: int) -> dict[str, Any]:
        if not 0 <= index < len(entry.dataset):
            raise HTTPException(404, f"image {index} is outside run {entry.id}'s dataset "
                                     f"(0..{len(entry.dataset) - 1})")
        batch = entry.dataset.load([index])
        label = None if batch.labels is None else int(batch.labels[0])
        names = entry.dataset.class_names
        return encoded(entry, batch.images, index=index, label=label,
                       class_name=names[label] if label is not None and names else None)

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return _static("index.html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(404, f"no static file {name!r}")
        return _static(name)

    @app.get("/api/runs")
    def list_runs() -> dict[str, Any]:
        return {"runs": [entry.describe() for entry in runs]}

    @app.get("/api/runs/{run_id}/images/{index}")
    def image_by_index(run_id: int, index: int) -> dict[str, Any]:
        return heavy(dataset_image, get_run(run_id), index)

    @app.get("/api/runs/{run_id}/classes/{label}")
    def image_by_class(run_id: int, label: str, nth: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
        entry = get_run(run_id)
        labels, names = entry.dataset.labels, list(entry.dataset.class_names)
        if labels is None:
            raise HTTPException(404, f"run {entry.id}'s dataset has no classes")
        if label in names:
            value = names.index(label)
        elif label.isdigit() and (not names or int(label) < len(names)):
            value = int(label)
        else:
            raise HTTPException(404, f"no class {label!r}; the classes are {names or 'unnamed integers'}")
        rows = np.flatnonzero(labels == value)
        if nth >= len(rows):
            raise HTTPException(404, f"class {label!r} has {len(rows)} images; nth={nth} is past the last")
        return heavy(dataset_image, entry, int(rows[nth]))

    @app.post("/api/runs/{run_id}/encode")
    async def encode_upload(run_id: int, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        entry = get_run(run_id)
        data = await file.read(MAX_UPLOAD_BYTES + 1)

        def compute() -> dict[str, Any]:
            return encoded(entry, decode_upload(data, entry.channels, entry.size), filename=file.filename)

        # off the event loop: decoding and encoding an image must not hold up every other request
        return await run_in_threadpool(heavy, compute)

    @app.post("/api/runs/{run_id}/decode")
    def decode(run_id: int, code: Code) -> Response:
        entry = get_run(run_id)
        z = code_of(entry, code.z)

        @torch.inference_mode()
        def compute() -> bytes:
            return to_png(mean_image(entry.run.model.decode(z)))

        return Response(heavy(compute), media_type="image/png")

    @app.post("/api/runs/{run_id}/traverse")
    def traverse(run_id: int, request: Traversal) -> Response:
        entry = get_run(run_id)
        z = code_of(entry, request.z)
        if request.dim >= entry.latent_dim:
            raise HTTPException(422, f"dim {request.dim}: run {entry.id} has dimensions "
                                     f"0..{entry.latent_dim - 1}")
        codes = z.repeat(request.steps, 1)
        codes[:, request.dim] = torch.linspace(-request.span, request.span, request.steps)

        @torch.inference_mode()
        def compute() -> bytes:
            buffer = io.BytesIO()
            image_grid(mean_image(entry.run.model.decode(codes))[None], pad=1).save(buffer, format="PNG")
            return buffer.getvalue()

        return Response(heavy(compute), media_type="image/png")

    @app.post("/api/runs/{run_id}/predict")
    def predict(run_id: int, code: Code) -> dict[str, Any]:
        entry = get_run(run_id)
        z = code_of(entry, code.z)
        if entry.classifier is None:
            raise HTTPException(409, f"run {entry.id} ({entry.label}) has no latent classifier")
        return {"run": entry.id, "prediction": heavy(prediction, entry, z)}

    def run_job(job: Job, entry: ExplorerRun, x: torch.Tensor, target: int | None) -> None:
        job.state, job.ran = "running", time.monotonic()

        def progress(step: int, total: int) -> None:
            job.step, job.total = int(step), int(total)
            if time.monotonic() - job.ran > limits.job_timeout:  # stops the job at its next step
                raise JobTimeout(f"stopped after {limits.job_timeout:g} s (the limit per job), at "
                                 f"step {step} of {total}")

        try:
            result = compute_rationale(entry.run.model, entry.classifier, x, target, progress, rationale)

            def first(value: Any) -> torch.Tensor:
                tensor = torch.as_tensor(value).detach().float().cpu()
                return tensor[:1] if tensor.ndim else tensor.reshape(1)

            difference = first(result.difference)
            scale = float(difference.abs().max()) or 1.0
            job.result = {
                "reconstruction": _png_uri(first(result.reconstruction)),
                "counterfactual": _png_uri(first(result.counterfactual)),
                # signed difference on a grey background: brighter where the counterfactual is brighter
                "difference": _png_uri(0.5 + 0.5 * difference[:1] / scale),
                "reached": bool(first(result.reached).ravel()[0]),
                # "reached", "already" (nothing to explain) or "max_steps"; a stand-in may say only reached
                "status": (str(list(result.status)[0]) if getattr(result, "status", None) is not None
                           else "reached" if bool(first(result.reached).ravel()[0]) else "max_steps"),
                "steps": int(first(result.steps).ravel()[0]),
                "trajectory": torch.as_tensor(result.trajectory).detach().float().ravel()[:2000].tolist(),
            }
            job.state = "done"
        except JobTimeout as err:
            job.error, job.state = f"timed out: {err}", "failed"
        except Exception as err:  # the job reports any failure to the page instead of dying silently
            job.error, job.state = f"{type(err).__name__}: {err}", "failed"
        finally:
            job.finished = time.monotonic()

    def retry_after() -> int:
        """Seconds until a job slot is likely free: the recent jobs' mean run time, per queued job
        ahead, at least 1 (5 when no job has finished yet)."""
        with jobs_lock:
            spans = [j.finished - j.ran for j in jobs.values() if j.finished and j.ran]
            waiting = sum(j.state in ("queued", "running") for j in jobs.values())
        each = sum(spans) / len(spans) if spans else 5.0
        return max(1, math.ceil(each * max(1, waiting - limits.max_jobs + 1)))

    @app.post("/api/runs/{run_id}/rationale")
    async def start_rationale(run_id: int, file: Annotated[UploadFile, File()],
                              target: Annotated[str | None, Form()] = None) -> dict[str, Any]:
        entry = get_run(run_id)
        if entry.classifier is None:
            raise HTTPException(409, f"run {entry.id} ({entry.label}) has no latent classifier")
        classes = entry.classifier.classes
        if target not in (None, "") and target not in classes:
            raise HTTPException(422, f"target {target!r}: expected one of {classes}")
        x = decode_upload(await file.read(MAX_UPLOAD_BYTES + 1), entry.channels, entry.size)
        job = Job(uuid.uuid4().hex, entry.id)
        with jobs_lock:
            active = sum(j.state in ("queued", "running") for j in jobs.values())
            if active < limits.max_jobs:
                jobs[job.id] = job
                # forget the oldest finished jobs; an active one is never dropped
                for old in [k for k, j in jobs.items() if j.state in ("done", "failed")]:
                    if len(jobs) <= KEPT_JOBS:
                        break
                    del jobs[old]
        if job.id not in jobs:
            raise Busy(f"{active} rationale jobs are queued or running, the most this explorer takes "
                       f"({limits.max_jobs}); retry when one has finished", retry_after=retry_after())
        worker.submit(run_job, job, entry, x, classes.index(target) if target else None)
        return job.describe()

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str) -> dict[str, Any]:
        with jobs_lock:
            job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job.describe()

    app.state.runs = runs
    return app


def serve(run_dirs: Sequence[Path | str], host: str = "127.0.0.1", port: int = 8765,
          limits: ExplorerLimits | None = None) -> None:
    """Serve the explorer until interrupted (127.0.0.1: reachable from this machine only)."""
    import uvicorn

    app = create_app(run_dirs, limits=limits)
    print(f"untwine explorer: http://{host}:{port}/  ({len(run_dirs)} run(s); Ctrl-C to stop)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
