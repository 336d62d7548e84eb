// The page: choose a model, draw or drop an image, see the top 3 and the time.
import { PinetModel, canvasPixels } from "./pinet.js";

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const padContext = pad.getContext("2d", { willReadFrequently: true });
const models = {};
let model = null;
let source = pad; // what is classified: the drawing pad or a dropped image

function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

function clearPad() {
  padContext.fillStyle = "black";
  padContext.fillRect(0, 0, pad.width, pad.height);
  source = pad;
}

async function selectModel(name) {
  status(`Loading ${name}…`);
  models[name] ??= PinetModel.load(`models/${name}.tflite`);
  model = await models[name];
  const { dataset, quantization } = model.metadata;
  const [h, w, c] = model.shape;
  $("info").textContent =
    `${dataset ?? "?"} · ${model.classNames.length} classes · input ${h}×${w}×${c} ${model.inputDtype}` +
    ` · ${quantization ?? ""}`;
  $("input").width = w;
  $("input").height = h;
  status("Ready.");
  return classify();
}

// Classifies `pixels` (uint8 HWC), or else the current source; shows and returns the top 3.
async function classify(pixels = null) {
  if (!model) return null;
  const [h, w, c] = model.shape;
  pixels ??= canvasPixels(source, h, w, c);
  showInput(pixels, h, w, c);
  const { top, ms } = await model.predict(pixels, 3);
  $("results").replaceChildren(
    ...top.map((p) => {
      const row = document.createElement("tr");
      row.innerHTML = `<td class="name"></td><td>${(100 * p.probability).toFixed(1)}%</td>` +
        `<td><div class="bar" style="width:${Math.round(150 * p.probability)}px"></div></td>`;
      row.firstChild.textContent = p.name;
      return row;
    }),
  );
  $("time").textContent = `${ms.toFixed(1)} ms per prediction (LiteRT.js, WebAssembly)`;
  return top;
}

function showInput(pixels, h, w, c) {
  const image = new ImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const rgb = c === 1 ? [pixels[i], pixels[i], pixels[i]] : pixels.subarray(3 * i, 3 * i + 3);
    image.data.set([...rgb, 255], 4 * i);
  }
  $("input").getContext("2d").putImageData(image, 0, 0);
}

// Drawing.
let drawing = false;
function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * (pad.width / box.width), (event.clientY - box.top) * (pad.height / box.height)];
}
pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  source = pad;
  pad.setPointerCapture(event.pointerId);
  padContext.beginPath();
  padContext.moveTo(...point(event));
});
pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  padContext.strokeStyle = "white";
  padContext.lineWidth = 22;
  padContext.lineCap = padContext.lineJoin = "round";
  padContext.lineTo(...point(event));
  padContext.stroke();
});
pad.addEventListener("pointerup", () => {
  drawing = false;
  classify();
});

// A seven, drawn as a hand would.
function drawExample() {
  clearPad();
  padContext.strokeStyle = "white";
  padContext.lineWidth = 22;
  padContext.lineCap = padContext.lineJoin = "round";
  padContext.beginPath();
  padContext.moveTo(70, 70);
  padContext.lineTo(205, 66);
  padContext.lineTo(150, 150);
  padContext.lineTo(118, 220);
  padContext.stroke();
  return classify();
}

// Images: a file chosen or dropped, drawn on the pad and classified.
async function useImage(file) {
  try {
    const bitmap = await createImageBitmap(file);
    padContext.fillStyle = "white";
    padContext.fillRect(0, 0, pad.width, pad.height);
    padContext.drawImage(bitmap, 0, 0, pad.width, pad.height);
    source = bitmap;
    await classify();
  } catch (error) {
    status(`${file.name} is not an image this browser can decode (${error.message})`, true);
  }
}
$("file").addEventListener("change", (event) => event.target.files[0] && useImage(event.target.files[0]));
pad.addEventListener("dragover", (event) => {
  event.preventDefault();
  pad.classList.add("drop");
});
pad.addEventListener("dragleave", () => pad.classList.remove("drop"));
pad.addEventListener("drop", (event) => {
  event.preventDefault();
  pad.classList.remove("drop");
  if (event.dataTransfer.files[0]) useImage(event.dataTransfer.files[0]);
});
$("clear").addEventListener("click", () => {
  clearPad();
  classify();
});
$("example").addEventListener("click", drawExample);
$("model").addEventListener("change", (event) => selectModel(event.target.value).catch(fail));

function fail(error) {
  status(`Error: ${error.message}`, true);
  throw error;
}

// Start: the list of models the server has, the first one loaded.
async function start() {
  clearPad();
  const names = await (await fetch("models/index.json")).json();
  $("model").replaceChildren(...names.map((name) => new Option(name, name)));
  const wanted = new URLSearchParams(location.search).get("model");
  const first = names.includes(wanted) ? wanted : names.includes("polynet_mnist") ? "polynet_mnist" : names[0];
  $("model").value = first;
  await selectModel(first);
  if (new URLSearchParams(location.search).has("example")) await drawExample();
}

// For tests and scripts: the page's state and actions.
window.pinetPage = {
  ready: start().catch(fail),
  selectModel,
  classify,
  get model() {
    return model;
  },
};
