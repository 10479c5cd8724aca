"use strict";
// The Swapgate playground: plain browser JavaScript, no build step, no third-party code.
// The API key lives in sessionStorage and travels only as the x-api-key header; a key given in the
// page's fragment (#key=...) is moved there and the fragment is cleared (a fragment never reaches a server).
(() => {
  const KEY_STORAGE = "swapgate.apiKey";
  const WAIT_SECONDS = 20; // Prefer: wait=20, the API's maximum
  const TERMINAL = new Set(["succeeded", "failed", "timed_out", "canceled"]);
  const IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp"];
  // The API's root: this page's path (with the stage prefix on API Gateway), ending in "/".
  const base = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";
  const $ = (id) => document.getElementById(id);

  const els = {
    form: $("swap-form"),
    key: $("api-key"),
    forget: $("forget-key"),
    sourceZone: $("source-zone"),
    faceZone: $("face-zone"),
    sourceFile: $("source-file"),
    faceFile: $("face-file"),
    sourcePreview: $("source-preview"),
    facePreview: $("face-preview"),
    boxes: $("face-boxes"),
    facesStatus: $("faces-status"),
    provider: $("provider"),
    providerHelp: $("provider-help"),
    submit: $("submit"),
    status: $("status"),
    elapsed: $("elapsed"),
    error: $("error"),
    results: $("results"),
    resultSource: $("result-source"),
    resultFace: $("result-face"),
    resultImage: $("result-image"),
    download: $("download"),
  };

  const state = {
    source: null, // {file, url, ok}
    face: null,
    faces: [], // boxes [x1, y1, x2, y2] from POST /v1/faces, in the source's pixels
    picked: new Set(),
    providers: [],
    defaultProvider: "",
    detecting: null,
    busy: false,
    timer: null,
  };

  // API field names -> [control id, the label a person sees]; errors name the label.
  const FIELDS = {
    "x-api-key": ["api-key", "API key"],
    source_image: ["source-file", "Source picture"],
    image: ["source-file", "Source picture"],
    face_image: ["face-file", "Face picture"],
    face_images: ["face-file", "Face picture"],
    indexes: ["face-boxes", "Faces to replace"],
    provider: ["provider", "Provider"],
  };

  class ApiError extends Error {
    constructor(message, field, status) {
      super(message);
      this.field = field;
      this.status = status;
    }
  }

  // --- the key ----------------------------------------------------------------------------------
  function takeKeyFromFragment() {
    const params = new URLSearchParams(location.hash.slice(1));
    const key = params.get("key");
    if (key !== null) {
      sessionStorage.setItem(KEY_STORAGE, key.trim());
      history.replaceState(null, "", location.pathname + location.search);
    }
  }

  const currentKey = () => sessionStorage.getItem(KEY_STORAGE) || "";

  function keyChanged() {
    const key = els.key.value.trim();
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
    clearFieldError("api-key");
    loadProviders();
  }

  // --- talking to the API ------------------------------------------------------------------------
  async function api(method, path, { body = null, headers = {} } = {}) {
    let response;
    try {
      response = await fetch(base + path, {
        method,
        body,
        headers: { "x-api-key": currentKey(), ...headers },
        cache: "no-store",
        credentials: "omit",
      });
    } catch (err) {
      throw new ApiError(`The API could not be reached (${err.message}).`, null, 0);
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const unauthorized = response.status === 401 ? "x-api-key" : null;
      const error = data && data.error;
      if (error) throw new ApiError(error.message || error.code, unauthorized || error.field, response.status);
      if (response.status === 413) {
        throw new ApiError("the pictures are too large to send in one request (about 6 MB together)", null, 413);
      }
      const said = data && data.message ? data.message : response.statusText;
      throw new ApiError(`The API answered ${response.status}: ${said}`, unauthorized, response.status);
    }
    return { status: response.status, data, waited: response.headers.has("Preference-Applied") };
  }

  // --- messages -----------------------------------------------------------------------------------
  function setStatus(text, done = false) {
    els.status.textContent = text;
    els.status.classList.toggle("done", done);
  }

  function fieldOf(name) {
    return FIELDS[String(name || "").replace(/\[\d+\]$/, "")];
  }

  function fail(message, field) {
    const known = fieldOf(field);
    const text = known ? `${known[1]}: ${message}` : message;
    els.error.textContent = text;
    els.error.hidden = false;
    if (known) {
      const [id] = known;
      const own = $(`${id}-error`);
      own.textContent = text;
      own.hidden = false;
      const control = $(id);
      if (control) control.setAttribute("aria-invalid", "true");
    }
    if (state.busy) setStatus("Stopped: see the error below.");
  }

  function clearFieldError(id) {
    const own = $(`${id}-error`);
    if (own) {
      own.textContent = "";
      own.hidden = true;
    }
    const control = $(id);
    if (control) control.removeAttribute("aria-invalid");
  }

  function clearErrors() {
    els.error.hidden = true;
    els.error.textContent = "";
    for (const [id] of Object.values(FIELDS)) clearFieldError(id);
  }

  // --- providers ----------------------------------------------------------------------------------
  const mode = () => (document.querySelector('input[name="mode"]:checked') || {}).value || "single";

  async function loadProviders() {
    if (!currentKey()) {
      state.providers = [];
      renderProviders();
      return;
    }
    try {
      const { data } = await api("GET", "v1/providers");
      state.providers = data.providers || [];
      state.defaultProvider = data.default || "";
      renderProviders();
      detectFaces();
    } catch (err) {
      fail(err.message, err.field);
    }
  }

  function renderProviders() {
    const group = mode() === "group";
    const previous = els.provider.value;
    els.provider.replaceChildren();
    if (!state.providers.length) {
      els.provider.append(new Option("enter your API key first", ""));
      els.providerHelp.textContent = "";
      return;
    }
    let chosen = null;
    for (const provider of state.providers) {
      const ops = provider.operations || [];
      const able = group ? ops.includes("multi_swap") && ops.includes("extract_faces") : ops.includes("swap");
      let label = provider.name + (provider.default ? " (default)" : "");
      if (!provider.configured) label += " - not configured here";
      else if (!able) label += group ? " - cannot pick faces" : " - cannot swap";
      const option = new Option(label, provider.name);
      option.disabled = !provider.configured || !able;
      els.provider.append(option);
      if (!option.disabled && (chosen === null || provider.name === previous)) chosen = provider.name;
      if (!option.disabled && provider.default && previous === "") chosen = provider.name;
    }
    if (chosen !== null) els.provider.value = chosen;
    els.providerHelp.textContent = group
      ? "Providers that detect faces and swap several at once."
      : "Providers marked not configured lack their settings in this deployment.";
  }

  // --- pictures -----------------------------------------------------------------------------------
  async function pick(which, file) {
    const img = which === "source" ? els.sourcePreview : els.facePreview;
    const id = which === "source" ? "source-file" : "face-file";
    const field = which === "source" ? "source_image" : "face_image";
    if (state[which]) URL.revokeObjectURL(state[which].url);
    clearFieldError(id);
    els.error.hidden = true;
    const url = URL.createObjectURL(file);
    state[which] = { file, url, ok: false };
    if (which === "source") {
      state.faces = [];
      state.picked.clear();
      renderBoxes();
    }
    img.src = url;
    img.alt = which === "source" ? `Source picture: ${file.name}` : `Face picture: ${file.name}`;
    try {
      // an image type the API does not take is refused here; any other file if it is no picture at all
      if (file.type.startsWith("image/") && !IMAGE_TYPES.includes(file.type)) throw new Error(file.type);
      await img.decode();
    } catch {
      if (state[which] && state[which].url === url) {
        img.hidden = true;
        fail("not a JPEG, PNG or WebP picture", field);
      }
      return;
    }
    if (!state[which] || state[which].url !== url) return; // another file was picked meanwhile
    state[which].ok = true;
    img.hidden = false;
    if (which === "source") detectFaces();
  }

  async function detectFaces() {
    const source = state.source;
    state.faces = [];
    state.picked.clear();
    renderBoxes();
    if (mode() !== "group" || !source || !source.ok || !currentKey() || !els.provider.value) return;
    const token = {};
    state.detecting = token;
    setFacesStatus("Finding the faces...");
    const form = new FormData();
    form.append("image", source.file, source.file.name || "source");
    form.append("provider", els.provider.value);
    try {
      const { data } = await api("POST", "v1/faces", { body: form });
      if (state.detecting !== token) return;
      state.faces = data.faces || [];
      renderBoxes();
      setFacesStatus(
        state.faces.length
          ? `${state.faces.length} face(s) found. Press the numbered boxes to choose which to replace.`
          : "No face found in this picture."
      );
    } catch (err) {
      if (state.detecting !== token) return;
      setFacesStatus("");
      fail(err.message, err.field || "image");
    }
  }

  function setFacesStatus(text) {
    els.facesStatus.textContent = text;
    els.facesStatus.hidden = !text;
  }

  function renderBoxes() {
    els.boxes.replaceChildren();
    const img = els.sourcePreview;
    const group = mode() === "group";
    els.boxes.hidden = !group || !state.faces.length;
    if (!group) setFacesStatus("");
    if (!state.faces.length || !img.naturalWidth) return;
    state.faces.forEach(([x1, y1, x2, y2], index) => {
      const box = document.createElement("button");
      box.type = "button";
      box.className = "face-box";
      box.setAttribute("aria-pressed", String(state.picked.has(index)));
      box.setAttribute("aria-label", `Face ${index + 1}`);
      const number = document.createElement("span");
      number.setAttribute("aria-hidden", "true");
      number.textContent = String(index + 1);
      box.append(number);
      box.style.left = `${(100 * x1) / img.naturalWidth}%`;
      box.style.top = `${(100 * y1) / img.naturalHeight}%`;
      box.style.width = `${(100 * (x2 - x1)) / img.naturalWidth}%`;
      box.style.height = `${(100 * (y2 - y1)) / img.naturalHeight}%`;
      box.addEventListener("click", () => {
        if (state.picked.has(index)) state.picked.delete(index);
        else state.picked.add(index);
        box.setAttribute("aria-pressed", String(state.picked.has(index)));
        clearFieldError("face-boxes");
      });
      els.boxes.append(box);
    });
  }

  function dropZone(zone, which) {
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      const file = event.dataTransfer && event.dataTransfer.files[0];
      if (file) pick(which, file);
    });
  }

  // --- the swap -----------------------------------------------------------------------------------
  function startTimer() {
    const started = performance.now();
    clearInterval(state.timer);
    const show = () => {
      els.elapsed.textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`;
    };
    show();
    state.timer = setInterval(show, 100);
  }

  function stopTimer() {
    clearInterval(state.timer);
    state.timer = null;
  }

  function setBusy(busy) {
    // aria-disabled, not disabled: a disabled button would drop the keyboard focus on the page
    state.busy = busy;
    els.submit.setAttribute("aria-disabled", String(busy));
    els.submit.textContent = busy ? "Swapping..." : "Swap faces";
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function check() {
    if (!currentKey()) return ["enter your API key", "x-api-key"];
    if (!state.source) return ["choose a picture", "source_image"];
    if (!state.source.ok) return ["not a JPEG, PNG or WebP picture", "source_image"];
    if (!state.face) return ["choose a picture", "face_image"];
    if (!state.face.ok) return ["not a JPEG, PNG or WebP picture", "face_image"];
    if (!els.provider.value) return ["choose a provider", "provider"];
    if (mode() === "group" && !state.picked.size) return ["press at least one numbered face box", "indexes"];
    return null;
  }

  async function submit(event) {
    event.preventDefault();
    if (state.busy) return;
    clearErrors();
    els.results.hidden = true;
    const problem = check();
    if (problem) {
      fail(...problem);
      return;
    }
    const group = mode() === "group";
    const form = new FormData();
    form.append("source_image", state.source.file, state.source.file.name || "source");
    if (group) {
      for (const index of [...state.picked].sort((a, b) => a - b)) {
        form.append("face_images", state.face.file, state.face.file.name || "face");
        form.append("indexes", String(index));
      }
    } else {
      form.append("face_image", state.face.file, state.face.file.name || "face");
    }
    form.append("provider", els.provider.value);
    const prefer = { Prefer: `wait=${WAIT_SECONDS}` };
    setBusy(true);
    startTimer();
    setStatus("Sending the pictures...");
    try {
      let answer = await api("POST", group ? "v1/swaps/multi" : "v1/swaps", { body: form, headers: prefer });
      let job = answer.data;
      while (!TERMINAL.has(job.status)) {
        setStatus(`Job ${job.id} is ${job.status}...`);
        if (!answer.waited) await sleep(1000); // the API did not hold the request: do not poll it hot
        answer = await api("GET", `v1/swaps/${encodeURIComponent(job.id)}`, { headers: prefer });
        job = answer.data;
      }
      stopTimer();
      finish(job);
    } catch (err) {
      fail(err.message, err.field);
    } finally {
      stopTimer();
      setBusy(false);
    }
  }

  function finish(job) {
    if (job.status !== "succeeded") {
      const error = job.error || {};
      fail(`the job ${job.status.replace("_", " ")}: ${error.message || error.code || "no details"}`, error.field);
      return;
    }
    setStatus(`Done: job ${job.id} succeeded in ${els.elapsed.textContent}.`, true);
    els.resultSource.src = state.source.url;
    els.resultFace.src = state.face.url;
    els.resultImage.src = job.result_url;
    els.download.href = job.result_url;
    els.download.setAttribute("download", `${job.id}.png`);
    els.results.hidden = false;
  }

  // --- wiring -------------------------------------------------------------------------------------
  function start() {
    takeKeyFromFragment();
    els.key.value = currentKey();
    document.querySelector(".top a").href = base + "v1/docs";
    els.key.addEventListener("change", keyChanged);
    els.forget.addEventListener("click", () => {
      els.key.value = "";
      keyChanged();
      els.key.focus();
    });
    window.addEventListener("hashchange", () => {
      takeKeyFromFragment();
      els.key.value = currentKey();
      loadProviders();
    });
    els.sourceFile.addEventListener("change", () => {
      if (els.sourceFile.files[0]) pick("source", els.sourceFile.files[0]);
    });
    els.faceFile.addEventListener("change", () => {
      if (els.faceFile.files[0]) pick("face", els.faceFile.files[0]);
    });
    dropZone(els.sourceZone, "source");
    dropZone(els.faceZone, "face");
    // a file dropped beside a zone must not make the browser leave the page to show it
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());
    for (const radio of document.querySelectorAll('input[name="mode"]')) {
      radio.addEventListener("change", () => {
        clearErrors();
        renderProviders();
        detectFaces();
      });
    }
    els.provider.addEventListener("change", () => {
      clearFieldError("provider");
      detectFaces();
    });
    els.form.addEventListener("submit", submit);
    loadProviders();
  }

  start();
})();
