// The web page of bench serve: upload or record audio, POST it to /v1/score, show the result.
"use strict";
const $ = (id) => document.getElementById(id);
const keyInput = $("key");
keyInput.value = sessionStorage.getItem("spoofbench-key") || "";
keyInput.addEventListener("change", () => { sessionStorage.setItem("spoofbench-key", keyInput.value); loadModels(); });

function headers() {
  return keyInput.value ? { Authorization: "Bearer " + keyInput.value } : {};
}

function showError(text) { $("error").textContent = text || ""; }

async function loadModels() {
  const response = await fetch("/v1/models", { headers: headers() });
  if (!response.ok) { showError("models: " + (await detail(response))); return; }
  showError("");
  const select = $("model");
  select.innerHTML = "";
  for (const m of await response.json()) {
    const option = document.createElement("option");
    option.value = m.name;
    option.textContent = `${m.name} (${m.detector}, ${m.version})`;
    select.appendChild(option);
  }
}

async function detail(response) {
  try { return `${response.status}: ${(await response.json()).detail}`; } catch (e) { return String(response.status); }
}

async function score(blob, name) {
  showError("");
  $("send").disabled = true;
  const form = new FormData();
  form.append("file", blob, name);
  const model = $("model").value;
  try {
    const response = await fetch("/v1/score" + (model ? "?model=" + encodeURIComponent(model) : ""),
                                 { method: "POST", headers: headers(), body: form });
    if (!response.ok) { showError(await detail(response)); return; }
    show(await response.json());
  } catch (e) {
    showError("request failed: " + e);
  } finally {
    $("send").disabled = false;
  }
}

function show(r) {
  $("result").hidden = false;
  const decision = $("decision");
  decision.textContent = r.decision || "no decision (model not calibrated)";
  decision.className = "decision " + (r.decision ? r.decision.replace(" ", "-") : "none");
  $("score").textContent = r.score.toFixed(4);
  $("llr").textContent = r.llr === null ? "-" : r.llr.toFixed(3);
  $("flags").textContent = r.flags.length ? r.flags.join(", ") : "none";
  $("duration").textContent = r.duration_s.toFixed(2) + " s at " + r.sample_rate + " Hz";
  $("modelname").textContent = `${r.model} (${r.detector}, version ${r.model_version})`;
  $("ms").textContent = r.processing_ms.toFixed(1) + " ms";
  const windows = $("windows");
  windows.innerHTML = "";
  if (r.windows) {
    const low = Math.min(...r.windows.map((w) => w.score)), high = Math.max(...r.windows.map((w) => w.score));
    const bars = document.createElement("div");
    bars.className = "bars";
    for (const w of r.windows) {
      const bar = document.createElement("div");
      bar.style.height = (8 + 52 * (high > low ? (w.score - low) / (high - low) : 0.5)) + "px";
      bar.title = `${w.start_s.toFixed(2)}-${w.end_s.toFixed(2)} s: ${w.score.toFixed(3)}`;
      bars.appendChild(bar);
    }
    windows.append("Per-window scores:", bars);
  }
}

$("upload").addEventListener("submit", (event) => {
  event.preventDefault();
  const file = $("file").files[0];
  if (!file) { showError("choose an audio file first"); return; }
  score(file, file.name);
});

// Recording: raw samples from the microphone (Web Audio), sent as a 16-bit WAV (no codec in between).
let recording = null;
$("record").addEventListener("click", async () => {
  if (recording) { stopRecording(); return; }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const context = new AudioContext();
    const source = context.createMediaStreamSource(stream);
    const node = context.createScriptProcessor(4096, 1, 1);
    const chunks = [];
    node.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
    source.connect(node);
    node.connect(context.destination);
    recording = { stream, context, node, chunks };
    $("record").textContent = "Stop and score";
    $("recstate").textContent = "recording...";
  } catch (e) {
    showError("cannot record: " + e);
  }
});

function stopRecording() {
  const { stream, context, node, chunks } = recording;
  recording = null;
  node.disconnect();
  stream.getTracks().forEach((t) => t.stop());
  context.close();
  $("record").textContent = "Start recording";
  $("recstate").textContent = "";
  score(wav(chunks, context.sampleRate), "recording.wav");
}

function wav(chunks, rate) {
  const n = chunks.reduce((a, c) => a + c.length, 0);
  const view = new DataView(new ArrayBuffer(44 + 2 * n));
  const text = (offset, s) => { for (let i = 0; i < s.length; i++) view.setUint8(offset + i, s.charCodeAt(i)); };
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * n, true); text(8, "WAVE"); text(12, "fmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, 2 * n, true);
  let offset = 44;
  for (const c of chunks) {
    for (const x of c) { view.setInt16(offset, Math.max(-1, Math.min(1, x)) * 32767, true); offset += 2; }
  }
  return new Blob([view], { type: "audio/wav" });
}

loadModels();
