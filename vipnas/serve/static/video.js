// The video page: choose an input and networks, upload, run a job and follow its server-sent events.
"use strict";

const STAGES = ["detect", "track", "crop", "infer", "decode", "total"];
let choices = null;

async function jsonOf(response) {
  // The body of a response as JSON; a refusal's {"error": ...} becomes a thrown Error with that message.
  let body = null;
  try { body = await response.json(); } catch (error) { body = null; }
  if (!response.ok) {
    throw new Error(body && body.error ? body.error : `${response.status} ${response.statusText}`);
  }
  return body;
}

function option(value, text, disabled = false) {
  const item = document.createElement("option");
  item.value = value;
  item.textContent = text;
  item.disabled = disabled;
  return item;
}

function fill(select, items, keep = []) {
  const previous = select.value;
  select.replaceChildren(...keep, ...items);
  if ([...select.options].some((item) => item.value === previous && !item.disabled)) select.value = previous;
}

function showChoices(data) {
  choices = data;
  const $ = (id) => document.getElementById(id);
  fill($("clip"), data.clips.map((clip) => option(clip.id, clip.label)));
  fill($("model"), data.models.map((model) => option(model.id, `${model.label} — ${model.detail}`)));
  fill($("temporal"), data.temporal.map((folder) => option(folder.id, folder.label)),
    [option("", "none: the key network every frame")]);
  fill($("backend"), data.backends.map((b) => option(b.name, b.available ? b.name : `${b.name} (${b.reason})`, !b.available)));
  fill($("detector"), data.detectors.map((d) => option(d.id, d.available ? d.label : `${d.label} (${d.reason})`, !d.available)));
  updateLength();
}

function updateLength() {
  const select = document.getElementById("temporal");
  const length = document.getElementById("length");
  const folder = choices && choices.temporal.find((item) => item.id === select.value);
  length.disabled = !folder;
  length.max = folder ? folder.length : 0;
  length.value = folder ? folder.length : 0;
}

async function loadChoices() {
  showChoices(await jsonOf(await fetch("/api/choices")));
}

async function upload(file, kind) {
  const limit = choices.max_upload_bytes;
  if (file.size > limit) {
    throw new Error(`${file.name}: ${(file.size / 2 ** 20).toFixed(1)} MiB is over the upload limit of ${(limit / 2 ** 20).toFixed(0)} MiB`);
  }
  const response = await fetch(`/api/uploads?kind=${kind}`, {
    method: "POST", body: file, headers: {"X-File-Name": encodeURIComponent(file.name)},
  });
  return jsonOf(response);
}

async function submitJob(event) {
  event.preventDefault();
  const $ = (id) => document.getElementById(id);
  const error = $("form-error");
  error.textContent = "";
  const button = $("run");
  button.disabled = true;
  try {
    const request = {
      model: $("model").value, temporal: $("temporal").value || null, length: Number($("length").value),
      detector: $("detector").value, every: Number($("every").value || 1), backend: $("backend").value,
      max_frames: $("max-frames").value ? Number($("max-frames").value) : null, smooth: $("smooth").checked,
    };
    const source = document.querySelector("input[name=source]:checked").value;
    let name = $("clip").selectedOptions[0] ? $("clip").selectedOptions[0].textContent : "clip";
    if (source === "upload") {
      const file = $("video-file").files[0];
      if (!file) throw new Error("choose a video file to upload, or pick a SynthPose clip");
      name = file.name;
      request.video = {upload: (await upload(file, "video")).upload};
    } else {
      request.video = {clip: $("clip").value};
    }
    const boxes = $("boxes-file").files[0];
    if (boxes) request.boxes = (await upload(boxes, "boxes")).upload;
    const job = await jsonOf(await fetch("/api/jobs", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(request),
    }));
    follow(job.job, name);
  } catch (failure) {
    error.textContent = failure.message;
  } finally {
    button.disabled = false;
  }
}

function timingRows(timings) {
  return STAGES.map((stage) => {
    const row = document.createElement("tr");
    const label = document.createElement("th");
    label.textContent = stage;
    const value = document.createElement("td");
    value.textContent = `${(timings[stage] || 0).toFixed(2)} ms`;
    row.append(label, value);
    return row;
  });
}

function follow(jobId, name) {
  // A card for the job, fed by its event stream (EventSource resumes after a dropped connection by itself).
  const card = document.getElementById("job-template").content.firstElementChild.cloneNode(true);
  card.dataset.job = jobId;
  const part = (selector) => card.querySelector(selector);
  part(".job-name").textContent = name;
  document.getElementById("jobs").prepend(card);
  const tracks = new Set();
  const events = new EventSource(`/api/jobs/${jobId}/events`);
  events.addEventListener("frame", (message) => {
    const frame = JSON.parse(message.data);
    part(".job-state").textContent = "running";
    if (frame.jpeg) part(".job-frame").src = `data:image/jpeg;base64,${frame.jpeg}`;
    part(".frames-done").textContent = frame.frames_done;
    part(".frame-total").textContent = frame.frame_count ?? "?";
    part(".fps").textContent = frame.fps.toFixed(1);
    part(".average-fps").textContent = frame.average_fps.toFixed(1);
    part(".people").textContent = frame.people.length;
    frame.people.forEach((person) => tracks.add(person.track_id));
    if (tracks.size) part(".tracks").textContent = [...tracks].sort((a, b) => a - b).join(", ");
    part(".timings").replaceChildren(...timingRows(frame.timings_ms));
  });
  events.addEventListener("done", (message) => {
    const done = JSON.parse(message.data);
    events.close();
    part(".job-state").textContent = done.state;
    card.dataset.state = done.state;
    const links = done.files.map((kind) => {
      const link = document.createElement("a");
      link.href = `/api/jobs/${jobId}/files/${kind}`;
      link.textContent = {video: "annotated MP4", jsonl: "JSON lines", posetrack: "PoseTrack file"}[kind] || kind;
      link.className = `download-${kind}`;
      return link;
    });
    part(".downloads").replaceChildren("download: ", ...links.flatMap((link, i) => (i ? [" · ", link] : [link])));
  });
  events.addEventListener("failed", (message) => {
    events.close();
    part(".job-state").textContent = "failed";
    card.dataset.state = "failed";
    part(".error").textContent = JSON.parse(message.data).message;
  });
  part(".job-remove").addEventListener("click", async () => {
    events.close();
    await fetch(`/api/jobs/${jobId}`, {method: "DELETE"});
    card.remove();
  });
}

function initVideoPage() {
  document.getElementById("job-form").addEventListener("submit", submitJob);
  document.getElementById("temporal").addEventListener("change", updateLength);
  document.getElementById("video-file").addEventListener("change", () => {
    document.querySelector("input[name=source][value=upload]").checked = true;
  });
  return loadChoices();
}
