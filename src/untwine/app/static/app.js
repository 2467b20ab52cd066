// untwine explorer: one panel per shown run, all driven by the same image (a PNG/JPG blob).
"use strict";

const state = { runs: [], panels: [], image: null };
const $ = (selector, root = document) => root.querySelector(selector);

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $("#error").hidden = true;
  $("#error").textContent = "";
}

function setStatus(text) {
  $("#status").textContent = text;
}

// fetch that turns a 4xx/5xx answer into an Error carrying the server's message
async function api(url, options = {}) {
  const response = await fetch(url, options);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body.detail) message = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch (err) { /* not JSON: keep the status line */ }
    throw new Error(message);
  }
  return response;
}

function postJSON(url, body) {
  return api(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

function postFile(url, blob, fields = {}) {
  const form = new FormData();
  form.append("file", blob, blob.name || "image.png");
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  return api(url, { method: "POST", body: form });
}

async function dataUriToBlob(uri) {
  return (await fetch(uri)).blob();
}

function setBlobImage(img, blob) {
  if (img.dataset.objectUrl) URL.revokeObjectURL(img.dataset.objectUrl);
  const url = URL.createObjectURL(blob);
  img.dataset.objectUrl = url;
  img.src = url;
}

class Panel {
  constructor(run) {
    this.run = run;
    this.root = $("#panel-template").content.firstElementChild.cloneNode(true);
    this.root.dataset.run = run.id;
    $(".title", this.root).textContent = `${run.name} (${run.model}, ${run.latent_dim} latents)`;
    this.z = new Array(run.latent_dim).fill(0);
    this.encoded = this.z.slice();
    this.selected = run.dims[0].dim;
    this.busy = false;
    this.pending = false;
    this.sliders = new Map();
    this.buildSliders();
    $(".reset", this.root).addEventListener("click", () => this.reset());
    if (run.classifier) this.buildRationale();
  }

  buildSliders() {
    const box = $(".sliders", this.root);
    const span = this.run.slider_span;
    for (const { dim, kl } of this.run.dims) {
      const label = document.createElement("label");
      const radio = document.createElement("input");
      radio.type = "radio";
      radio.name = `dim-${this.run.id}`;
      radio.checked = dim === this.selected;
      radio.addEventListener("change", () => { this.selected = dim; this.updateStrip(); });
      label.append(radio, ` z${dim} KL ${kl.toFixed(2)}`);
      const slider = document.createElement("input");
      Object.assign(slider, { type: "range", min: -span, max: span, step: 0.01, value: 0 });
      slider.dataset.dim = dim;
      slider.setAttribute("aria-label", `z${dim}`);
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = "0.00";
      slider.addEventListener("input", () => {
        this.z[dim] = Number(slider.value);
        value.textContent = this.z[dim].toFixed(2);
        this.requestDecode();
      });
      slider.addEventListener("change", () => { if (dim === this.selected) this.updateStrip(); });
      box.append(label, slider, value);
      this.sliders.set(dim, { slider, value });
    }
  }

  buildRationale() {
    const section = $(".rationale", this.root);
    section.hidden = false;
    const select = $(".target", this.root);
    select.append(new Option("away from the prediction", ""));
    for (const name of this.run.classifier.classes) select.append(new Option(name, name));
    $(".explain", this.root).addEventListener("click", () => this.explain());
  }

  setCode(z) {
    this.z = z.slice();
    for (const [dim, { slider, value }] of this.sliders) {
      const span = Math.max(this.run.slider_span, Math.ceil(Math.abs(z[dim])));
      slider.min = -span;
      slider.max = span;
      slider.value = z[dim];
      value.textContent = z[dim].toFixed(2);
    }
  }

  show(answer) {
    $(".input", this.root).src = answer.image;
    $(".decoded", this.root).src = answer.reconstruction;
    this.encoded = answer.z.slice();
    this.setCode(answer.z);
    this.showPrediction(answer.prediction);
    $(".rationale-pictures", this.root).hidden = true;
    $(".rationale-status", this.root).textContent = "";
    this.updateStrip();
  }

  showPrediction(prediction) {
    const box = $(".prediction", this.root);
    if (!prediction) { box.hidden = true; return; }
    const top = Object.entries(prediction.probabilities).sort((a, b) => b[1] - a[1])
      .map(([name, p]) => `${name} ${(100 * p).toFixed(1)}%`).join(", ");
    box.textContent = `classifier: ${prediction.predicted} (${top})`;
    box.hidden = false;
  }

  reset() {
    this.setCode(this.encoded);
    this.requestDecode();
    this.updateStrip();
  }

  // one decode in flight per panel; moves made meanwhile collapse into one follow-up request
  requestDecode() {
    if (this.busy) { this.pending = true; return; }
    this.busy = true;
    this.pending = false;
    const z = this.z.slice();
    postJSON(`/api/runs/${this.run.id}/decode`, { z })
      .then((r) => r.blob())
      .then((blob) => { setBlobImage($(".decoded", this.root), blob); return this.predict(z); })
      .catch((err) => showError(err.message))
      .finally(() => {
        this.busy = false;
        if (this.pending) this.requestDecode();
      });
  }

  async predict(z) {
    if (!this.run.classifier) return;
    const answer = await (await postJSON(`/api/runs/${this.run.id}/predict`, { z })).json();
    this.showPrediction(answer.prediction);
  }

  async updateStrip() {
    $(".strip-title", this.root).textContent = `traversal of z${this.selected}`;
    try {
      const response = await postJSON(`/api/runs/${this.run.id}/traverse`, { z: this.z, dim: this.selected, steps: 9 });
      setBlobImage($(".strip", this.root), await response.blob());
    } catch (err) {
      showError(err.message);
    }
  }

  async encode(blob) {
    const answer = await (await postFile(`/api/runs/${this.run.id}/encode`, blob)).json();
    this.show(answer);
  }

  async explain() {
    if (!state.image) { showError("pick or upload an image first"); return; }
    const status = $(".rationale-status", this.root);
    const bar = $(".progress", this.root);
    const target = $(".target", this.root).value;
    try {
      clearError();
      let job = await (await postFile(`/api/runs/${this.run.id}/rationale`, state.image, { target })).json();
      bar.hidden = false;
      while (job.state === "queued" || job.state === "running") {
        if (job.progress === null) bar.removeAttribute("value"); else bar.value = job.progress;
        status.textContent = `${job.state} ${job.elapsed.toFixed(1)} s` + (job.total ? `, step ${job.step} of ${job.total}` : "");
        await new Promise((resolve) => setTimeout(resolve, 300));
        job = await (await api(`/api/jobs/${job.job}`)).json();
      }
      bar.hidden = true;
      if (job.state === "failed") throw new Error(`rationale failed: ${job.error}`);
      const result = job.result;
      $(".r-reconstruction", this.root).src = result.reconstruction;
      $(".r-counterfactual", this.root).src = result.counterfactual;
      $(".r-difference", this.root).src = result.difference;
      $(".rationale-pictures", this.root).hidden = false;
      const ended = { reached: "reached the other class", already: "was already there before any step: nothing to explain", max_steps: "did NOT reach the other class" };
      status.textContent = `${ended[result.status] || result.status} (${result.steps} steps)`;
    } catch (err) {
      bar.hidden = true;
      status.textContent = "";
      showError(err.message);
    }
  }
}

function shownRuns() {
  const ids = [$("#run-a").value, $("#run-b").value].filter((v) => v !== "");
  return [...new Set(ids)].map((id) => state.runs[Number(id)]);
}

function buildPanels() {
  const main = $("#panels");
  main.replaceChildren();
  state.panels = shownRuns().map((run) => new Panel(run));
  for (const panel of state.panels) main.append(panel.root);
  const classes = state.runs[Number($("#run-a").value)].dataset_classes;
  const select = $("#class");
  select.replaceChildren(...classes.map((name) => new Option(name, name)));
  $("#by-class").hidden = classes.length === 0;
  if (state.image) drive(state.image);
}

// the first panel's dataset image (or an upload) drives every panel
async function drive(blob) {
  state.image = blob;
  await Promise.all(state.panels.map((panel) => panel.encode(blob)));
}

async function loadDataset(url) {
  clearError();
  try {
    const answer = await (await api(url)).json();
    const blob = await dataUriToBlob(answer.image);
    state.image = blob;
    state.panels[0].show(answer);
    await Promise.all(state.panels.slice(1).map((panel) => panel.encode(blob)));
    const label = answer.class_name !== null ? `, class ${answer.class_name}` : "";
    setStatus(`dataset image ${answer.index}${label}`);
  } catch (err) {
    showError(err.message);
  }
}

async function upload(file) {
  clearError();
  try {
    // encode in the first panel first: a bad upload is refused there and leaves every panel as it was
    const answer = await (await postFile(`/api/runs/${state.panels[0].run.id}/encode`, file)).json();
    state.panels[0].show(answer);
    await Promise.all(state.panels.slice(1).map((panel) => panel.encode(file)));
    state.image = file;
    setStatus(`uploaded ${file.name}`);
  } catch (err) {
    showError(err.message);
  }
}

async function start() {
  try {
    state.runs = (await (await api("/api/runs")).json()).runs;
  } catch (err) {
    showError(`could not list the runs: ${err.message}`);
    return;
  }
  for (const run of state.runs) {
    $("#run-a").append(new Option(run.name, run.id));
    $("#run-b").append(new Option(run.name, run.id));
  }
  if (state.runs.length > 1) $("#run-b").value = "1";
  $("#run-a").addEventListener("change", buildPanels);
  $("#run-b").addEventListener("change", buildPanels);
  $("#load-index").addEventListener("click", () => {
    loadDataset(`/api/runs/${$("#run-a").value}/images/${encodeURIComponent($("#index").value)}`);
  });
  $("#load-class").addEventListener("click", () => {
    const label = encodeURIComponent($("#class").value);
    loadDataset(`/api/runs/${$("#run-a").value}/classes/${label}?nth=${encodeURIComponent($("#nth").value)}`);
  });
  $("#upload").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) upload(file);
    event.target.value = "";
  });
  buildPanels();
  await loadDataset(`/api/runs/${$("#run-a").value}/images/0`);
  document.body.dataset.ready = "true";
}

start();
