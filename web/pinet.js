// The shipped pinet_keras .tflite files in the browser: their metadata (read
// from the file's flatbuffer) and their logits (LiteRT.js, on WebAssembly).
// Used by index.html and by the browser test (tests/test_browser.py).

import { Tensor, loadAndCompile, loadLiteRt } from "@litertjs/core";

// Field indices of the TFLite schema's Model, Metadata and Buffer tables.
const MODEL_BUFFERS = 4;
const MODEL_METADATA = 6;
const METADATA_NAME = 0;
const METADATA_BUFFER = 1;
const BUFFER_DATA = 0;
const MODEL_SUBGRAPHS = 2;
const SUBGRAPH_TENSORS = 0;
const TENSOR_SHAPE_SIGNATURE = 7;

// A bounds-checked reader of one flatbuffer table (its vtable, scalars,
// strings, byte vectors and vectors of tables).
class Table {
  constructor(view, pos) {
    this.view = view;
    this.pos = pos;
    this.vtable = pos - int32(view, pos);
    this.vtableSize = uint16(view, this.vtable);
  }
  field(index) {
    const entry = 4 + 2 * index;
    if (entry + 2 > this.vtableSize) return null;
    const offset = uint16(this.view, this.vtable + entry);
    return offset ? this.pos + offset : null;
  }
  scalarU32(index) {
    const pos = this.field(index);
    return pos === null ? 0 : uint32(this.view, pos);
  }
  target(index) {
    const pos = this.field(index);
    return pos === null ? null : pos + uint32(this.view, pos);
  }
  bytes(index) {
    const target = this.target(index);
    if (target === null) return null;
    const length = uint32(this.view, target);
    check(this.view, target + 4, length);
    return new Uint8Array(this.view.buffer, this.view.byteOffset + target + 4, length);
  }
  string(index) {
    const raw = this.bytes(index);
    return raw === null ? null : new TextDecoder().decode(raw);
  }
  tables(index) {
    const target = this.target(index);
    if (target === null) return [];
    const length = uint32(this.view, target);
    check(this.view, target + 4, 4 * length);
    const result = [];
    for (let i = 0; i < length; i++) {
      const element = target + 4 + 4 * i;
      result.push(new Table(this.view, element + uint32(this.view, element)));
    }
    return result;
  }
}

function check(view, pos, size) {
  if (pos < 0 || pos + size > view.byteLength) {
    throw new Error("the file is truncated or damaged (a flatbuffer offset points past its end)");
  }
}
function uint16(view, pos) {
  check(view, pos, 2);
  return view.getUint16(pos, true);
}
function uint32(view, pos) {
  check(view, pos, 4);
  return view.getUint32(pos, true);
}
function int32(view, pos) {
  check(view, pos, 4);
  return view.getInt32(pos, true);
}

// {name: Uint8Array} of a .tflite file's metadata entries.
export function metadataEntries(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const identifier = new TextDecoder().decode(bytes.subarray(4, 8));
  if (bytes.byteLength < 8 || identifier !== "TFL3") {
    throw new Error("not a TFLite model (no TFL3 file identifier)");
  }
  const model = new Table(view, uint32(view, 0));
  const buffers = model.tables(MODEL_BUFFERS);
  const entries = {};
  for (const entry of model.tables(MODEL_METADATA)) {
    const index = entry.scalarU32(METADATA_BUFFER);
    if (index >= buffers.length) throw new Error(`metadata names buffer ${index}`);
    entries[entry.string(METADATA_NAME) ?? ""] = buffers[index].bytes(BUFFER_DATA) ?? new Uint8Array();
  }
  return entries;
}

// A copy of a .tflite file whose tensors have a batch of 1 where the file
// leaves it open (-1 in a tensor's shape_signature): LiteRT.js compiles a
// model for fixed shapes, and a page classifies one image at a time.
export function fixBatchOfOne(bytes) {
  const copy = new Uint8Array(bytes);
  const view = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
  const model = new Table(view, uint32(view, 0));
  for (const subgraph of model.tables(MODEL_SUBGRAPHS)) {
    for (const tensor of subgraph.tables(SUBGRAPH_TENSORS)) {
      const target = tensor.target(TENSOR_SHAPE_SIGNATURE);
      if (target !== null && uint32(view, target) > 0 && int32(view, target + 4) === -1) {
        view.setInt32(target + 4, 1, true);
      }
    }
  }
  return copy;
}

// The file's "pinet_keras" metadata (class names, input shape, data set...), or {}.
export function readMetadata(bytes) {
  const raw = metadataEntries(bytes).pinet_keras;
  return raw && raw.length ? JSON.parse(new TextDecoder().decode(raw)) : {};
}

let runtime = null;

// Loads LiteRT.js' WebAssembly once, from this page's own folder.
export function loadRuntime(wasmFolder = new URL("./node_modules/@litertjs/core/wasm/", import.meta.url).href) {
  if (runtime === null) runtime = loadLiteRt(wasmFolder);
  return runtime;
}

export class PinetModel {
  // A .tflite file (URL) compiled for LiteRT.js' CPU (WebAssembly) accelerator.
  static async load(url) {
    await loadRuntime();
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const metadata = readMetadata(bytes);
    if (!metadata.class_names) throw new Error(`${url} has no pinet_keras metadata`);
    const compiled = await loadAndCompile(fixBatchOfOne(bytes), { accelerator: "wasm" });
    return new PinetModel(url, metadata, compiled);
  }

  constructor(url, metadata, compiled) {
    this.url = url;
    this.metadata = metadata;
    this.compiled = compiled;
    this.classNames = metadata.class_names;
    const [, height, width, channels] = metadata.input.shape;
    this.shape = [height, width, channels];
    this.inputDtype = compiled.getInputDetails()[0].dtype;
  }

  // Float logits of one image: uint8 pixels, height × width × channels (HWC).
  async logits(pixels) {
    const [height, width, channels] = this.shape;
    if (pixels.length !== height * width * channels) {
      throw new Error(`expected ${height * width * channels} pixels, received ${pixels.length}`);
    }
    const data = this.inputDtype === "float32" ? Float32Array.from(pixels) : Uint8Array.from(pixels);
    const input = new Tensor(data, [1, height, width, channels]);
    try {
      const outputs = await this.compiled.run([input]);
      const output = await outputs[0].moveTo("wasm");
      const logits = Float32Array.from(output.toTypedArray());
      output.delete();
      for (const t of outputs) if (t !== output) t.delete();
      return logits;
    } finally {
      input.delete();
    }
  }

  // Top-k {index, name, probability} of one image's pixels, and milliseconds.
  async predict(pixels, topK = 3) {
    const start = performance.now();
    const logits = await this.logits(pixels);
    const ms = performance.now() - start;
    const probabilities = softmax(logits);
    const order = [...probabilities.keys()].sort((a, b) => probabilities[b] - probabilities[a]);
    const top = order.slice(0, topK).map((i) => ({
      index: i,
      name: this.classNames[i],
      probability: probabilities[i],
    }));
    return { top, logits, ms };
  }
}

export function softmax(logits) {
  const max = Math.max(...logits);
  const e = Array.from(logits, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

// uint8 HWC pixels of a canvas' image, as the package decodes an image:
// transparency composited on white, resized to the model's input, grey by
// PIL's formula (ITU-R 601-2 luma, L = (19595 R + 38470 G + 7471 B + 32768) >> 16).
export function canvasPixels(source, height, width, channels) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.fillStyle = "white";
  context.fillRect(0, 0, width, height);
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = "high";
  context.drawImage(source, 0, 0, width, height);
  const rgba = context.getImageData(0, 0, width, height).data;
  const pixels = new Uint8Array(height * width * channels);
  for (let i = 0; i < height * width; i++) {
    const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    if (channels === 1) {
      pixels[i] = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16;
    } else {
      pixels.set([r, g, b], 3 * i);
    }
  }
  return pixels;
}
