// The flowvox web page: speak text as it streams in (raw 24 kHz PCM played through Web
// Audio), keep the result as a WAV to replay and download, and upload a voice. Talks only
// to the server that served it; no external assets.
"use strict";

const RATE = 24000;
const $ = (id) => document.getElementById(id);
const state = { model: "flowvox", abort: null, audio: null, key: sessionStorage.getItem("flowvox-key") || "" };

function headers(extra = {}) {
  return state.key ? { ...extra, Authorization: `Bearer ${state.key}` } : extra;
}

function say(element, text, isError = false) {
  element.textContent = text;
  element.classList.toggle("error", isError);
}

async function errorText(response) {
  if (response.status === 401) $("key-box").hidden = false;
  try {
    const body = await response.json();
    return `${response.status}: ${body.error.message}`;
  } catch (e) {
    return `${response.status} ${response.statusText}`;
  }
}

async function loadVoices(select) {
  const response = await fetch("/v1/audio/voices", { headers: headers() });
  if (!response.ok) throw new Error(await errorText(response));
  const voices = (await response.json()).data;
  const list = $("voice");
  list.replaceChildren();
  for (const voice of voices) {
    const option = document.createElement("option");
    option.value = voice.id;
    option.textContent = voice.kind === "uploaded" ? `${voice.name} (uploaded)` : voice.name;
    option.dataset.kind = voice.kind;
    if (voice.default) option.textContent += " (default)";
    list.append(option);
  }
  const chosen = select || (voices.find((v) => v.default) || voices[0] || {}).id;
  if (chosen) list.value = chosen;
  showDelete();
  return voices;
}

function showDelete() {
  const option = $("voice").selectedOptions[0];
  $("delete-voice").hidden = !option || option.dataset.kind !== "uploaded";
}

async function loadModel() {
  const response = await fetch("/v1/models", { headers: headers() });
  if (!response.ok) throw new Error(await errorText(response));
  state.model = (await response.json()).data[0].id;
  $("model").textContent = state.model;
}

function wavBlob(chunks, total) {
  const header = new DataView(new ArrayBuffer(44));
  const text = (offset, s) => [...s].forEach((c, i) => header.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); header.setUint32(4, 36 + total, true); text(8, "WAVE");
  text(12, "fmt "); header.setUint32(16, 16, true); header.setUint16(20, 1, true);
  header.setUint16(22, 1, true); header.setUint32(24, RATE, true); header.setUint32(28, RATE * 2, true);
  header.setUint16(32, 2, true); header.setUint16(34, 16, true);
  text(36, "data"); header.setUint32(40, total, true);
  return new Blob([header, ...chunks], { type: "audio/wav" });
}

async function speak() {
  const result = $("result");
  const input = $("text").value;
  if (!input.trim()) { say($("status"), "Type some text first.", true); return; }
  const body = { model: state.model, input, voice: $("voice").value, response_format: "pcm",
                 stream_format: "audio", speed: Number($("speed").value) || 1 };
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  if (!state.audio) state.audio = new AudioContext({ sampleRate: RATE });
  await state.audio.resume();
  const audio = state.audio;
  const abort = new AbortController();
  state.abort = abort;
  $("speak").disabled = true; $("stop").disabled = false;
  $("player").hidden = true; $("download").hidden = true;
  Object.assign(result.dataset, { state: "streaming", bytes: "0", chunks: "0", seconds: "0", played: "0" });
  say($("status"), "Speaking…");
  const started = performance.now();
  const kept = [];
  let total = 0, leftover = null, next = audio.currentTime + 0.05, firstAt = null;
  try {
    const response = await fetch("/v1/audio/speech", {
      method: "POST", headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(body), signal: abort.signal });
    if (!response.ok) throw new Error(await errorText(response));
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let bytes = value;
      if (leftover) { bytes = new Uint8Array([...leftover, ...value]); leftover = null; }
      if (bytes.length % 2) { leftover = bytes.slice(-1); bytes = bytes.slice(0, -1); }
      if (!bytes.length) continue;
      if (firstAt === null) firstAt = performance.now() - started;
      kept.push(bytes); total += bytes.length;
      const samples = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
      const buffer = audio.createBuffer(1, samples.length, RATE);
      const channel = buffer.getChannelData(0);
      for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32768;
      const source = audio.createBufferSource();
      source.buffer = buffer; source.connect(audio.destination);
      next = Math.max(next, audio.currentTime); source.start(next); next += buffer.duration;
      result.dataset.bytes = String(total);
      result.dataset.chunks = String(Number(result.dataset.chunks) + 1);
      result.dataset.seconds = (total / 2 / RATE).toFixed(3);
    }
    const blob = wavBlob(kept, total);
    const url = URL.createObjectURL(blob);
    $("player").src = url; $("player").hidden = false;
    $("download").href = url; $("download").hidden = false;
    result.dataset.state = "done";
    result.dataset.played = audio.currentTime.toFixed(3);
    say($("status"), `${(total / 2 / RATE).toFixed(2)} s of audio; first sound after ${Math.round(firstAt)} ms, all after ${Math.round(performance.now() - started)} ms.`);
  } catch (err) {
    result.dataset.state = "error";
    say($("status"), err.name === "AbortError" ? "Stopped." : String(err.message || err), err.name !== "AbortError");
  } finally {
    $("speak").disabled = false; $("stop").disabled = true; state.abort = null;
  }
}

async function upload() {
  const file = $("voice-file").files[0];
  if (!file) { say($("upload-status"), "Choose a clip first.", true); return; }
  const form = new FormData();
  form.append("file", file);
  if ($("voice-text").value.trim()) form.append("text", $("voice-text").value.trim());
  form.append("name", $("voice-name").value.trim() || file.name);
  $("upload").disabled = true;
  say($("upload-status"), "Uploading…");
  try {
    const response = await fetch("/v1/audio/voices", { method: "POST", headers: headers(), body: form });
    if (!response.ok) throw new Error(await errorText(response));
    const voice = await response.json();
    await loadVoices(voice.id);
    say($("upload-status"), `Added “${voice.name}” (${voice.id}); it is selected above.`);
  } catch (err) {
    say($("upload-status"), String(err.message || err), true);
  } finally {
    $("upload").disabled = false;
  }
}

async function deleteVoice() {
  const id = $("voice").value;
  const response = await fetch(`/v1/audio/voices/${encodeURIComponent(id)}`, { method: "DELETE", headers: headers() });
  if (!response.ok) { say($("status"), await errorText(response), true); return; }
  await loadVoices();
  say($("status"), "Voice deleted.");
}

async function start() {
  try {
    await loadModel();
    await loadVoices();
    say($("status"), "Ready.");
    document.body.dataset.ready = "true";
  } catch (err) {
    say($("status"), String(err.message || err), true);
  }
}

$("speak").addEventListener("click", speak);
$("stop").addEventListener("click", () => state.abort && state.abort.abort());
$("upload").addEventListener("click", upload);
$("voice").addEventListener("change", showDelete);
$("delete-voice").addEventListener("click", deleteVoice);
$("save-key").addEventListener("click", () => {
  state.key = $("api-key").value;
  sessionStorage.setItem("flowvox-key", state.key);
  $("key-box").hidden = true;
  start();
});
start();
