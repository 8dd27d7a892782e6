/**
 * Image folders (`images:<dir>`): one subfolder per class, class index = position in the sorted
 * folder names; or `<dir>/train` + `<dir>/val` (or `test`) holding such folders. Images are
 * decoded with sharp, the shorter side resized to `resize` (torchvision `Resize`: the longer side
 * becomes floor(resize · long / short)), then a `size`×`size` centre crop (torchvision
 * `CenterCrop` offsets, Python rounding), 3 channels (alpha dropped, grey expanded), 0..255.
 */
import * as fs from 'fs';
import * as path from 'path';
import type SharpFn from 'sharp';
import { createProgress } from '../util/progress';
import { allocFloat32 } from './split';
import { dataError, isDir, requireDir, type Loaded, type Source } from './source';

const EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp']);
const KERNELS = ['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3'] as const;
/** Resampling kernel names accepted in `?kernel=` (sharp's). */
export type ImageKernel = (typeof KERNELS)[number];
/** Images decoded at once (sharp runs each on the libuv pool). */
const BATCH = 16;

/** Decoding options of an `images:` spec. */
export interface ImageOptions {
  /** Side of the square centre crop (default 224). */
  size: number;
  /** Length the shorter side is resized to before cropping (default 256). */
  resize: number;
  /** Resampling kernel (default 'cubic'). */
  kernel: ImageKernel;
}

const SPEC_HINT = 'use images:<dir>?size=224&resize=256&kernel=cubic (all optional; size <= resize)';

/** Parses the `?size=…&resize=…&kernel=…` suffix of an images spec. */
export function parseImageQuery(query: string): ImageOptions {
  const opts: ImageOptions = { size: 224, resize: 256, kernel: 'cubic' };
  for (const [key, value] of new URLSearchParams(query)) {
    if (key === 'size' || key === 'resize') {
      const n = Number(value);
      if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw dataError(`images spec: ${key}=${value} is not a positive integer`, SPEC_HINT);
      opts[key] = n;
    } else if (key === 'kernel') {
      if (!(KERNELS as readonly string[]).includes(value)) throw dataError(`images spec: unknown kernel '${value}'`, `use one of ${KERNELS.join(', ')}`);
      opts.kernel = value as ImageKernel;
    } else {
      throw dataError(`images spec: unknown option '${key}'`, SPEC_HINT);
    }
  }
  if (opts.size > opts.resize) throw dataError(`images spec: size=${opts.size} is larger than resize=${opts.resize}`, SPEC_HINT);
  return opts;
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/** Sorted class folder names of `dir`, each with its sorted image files; empty classes are errors. */
function scanClasses(dir: string): Map<string, string[]> {
  const names = fs.readdirSync(dir).filter((n) => !n.startsWith('.') && isDir(path.join(dir, n))).sort();
  if (names.length === 0) throw dataError(`no class subfolders in ${dir}`, 'put the images of each class in its own subfolder (<dir>/<class>/<image>.jpg)');
  const classes = new Map<string, string[]>();
  for (const name of names) {
    const folder = path.join(dir, name);
    const files = fs
      .readdirSync(folder)
      .filter((f) => !f.startsWith('.') && EXTENSIONS.has(path.extname(f).toLowerCase()))
      .sort()
      .map((f) => path.join(folder, f));
    if (files.length === 0) throw dataError(`class folder ${folder} has no .jpg/.jpeg/.png/.webp images`, 'add images or remove the folder');
    classes.set(name, files);
  }
  return classes;
}

let sharpModule: typeof SharpFn | undefined;
/** sharp (libvips) is loaded on first use, so importing the package does not load it. */
function loadSharp(): typeof SharpFn {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  sharpModule ??= require('sharp') as typeof SharpFn;
  return sharpModule;
}

/**
 * Decodes one image to `size`×`size`×3 bytes. Alpha is dropped and grey expanded before resizing
 * (like PIL's convert('RGB')), so transparent pixels keep their stored colour.
 */
async function decodeImage(file: string, o: ImageOptions): Promise<Buffer> {
  const sharp = loadSharp();
  try {
    const rgb = await sharp(await fs.promises.readFile(file))
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const { width, height, channels } = rgb.info;
    if (channels !== 3) throw new Error(`decoded to ${channels} channels`);
    const long = Math.floor((o.resize * Math.max(width, height)) / Math.min(width, height));
    const [w, h] = width <= height ? [o.resize, long] : [long, o.resize];
    const out = await sharp(rgb.data, { raw: { width, height, channels } })
      .resize(w, h, { kernel: o.kernel, fit: 'fill' })
      .extract({ left: roundHalfEven((w - o.size) / 2), top: roundHalfEven((h - o.size) / 2), width: o.size, height: o.size })
      .raw({ depth: 'uchar' })
      .toBuffer();
    if (out.length !== o.size * o.size * 3) throw new Error(`decoded to ${out.length} bytes`);
    return out;
  } catch (e) {
    throw dataError(`cannot decode image ${file}: ${(e as Error).message}`, 'replace or remove the file (JPEG, PNG and WebP are read)', e);
  }
}

/** A Source over image files; read() decodes only the requested ones, BATCH at a time, with progress. */
function imageSource(files: string[], y: Int32Array, o: ImageOptions, label: string, quiet: boolean): Source {
  const rowLen = o.size * o.size * 3;
  return {
    y,
    shape: [o.size, o.size, 3],
    async read(indices) {
      const out = allocFloat32(indices.length * rowLen, `${indices.length} images of ${o.size}x${o.size}x3`);
      const progress = createProgress({ label: `decoding ${label}`, total: indices.length, unit: 'images', quiet });
      for (let s = 0; s < indices.length; s += BATCH) {
        const batch = Array.from(indices.subarray(s, s + BATCH));
        const decoded = await Promise.all(batch.map((i) => decodeImage(files[i], o)));
        decoded.forEach((d, j) => out.set(d, (s + j) * rowLen));
        progress.tick(batch.length);
      }
      progress.done();
      return out;
    },
  };
}

/** Flat file list and labels of scanned class folders, class indices taken from `classNames`. */
function listFiles(dir: string, classes: Map<string, string[]>, classNames: string[]): { files: string[]; y: Int32Array } {
  const files: string[] = [];
  const labels: number[] = [];
  for (const [name, list] of classes) {
    const c = classNames.indexOf(name);
    if (c < 0) throw dataError(`class folder ${path.join(dir, name)} has no counterpart in the training folder`, `use the same class folder names as ${path.join(path.dirname(dir), 'train')}`);
    for (const f of list) {
      files.push(f);
      labels.push(c);
    }
  }
  return { files, y: Int32Array.from(labels) };
}

/** Opens an image folder dataset; nothing is decoded until the chosen samples are read. */
export function loadImageFolder(dir: string, o: ImageOptions, quiet: boolean): Loaded {
  requireDir(dir, 'image', 'pass images:<dir> with one subfolder of images per class');
  const evalName = ['val', 'test'].find((n) => isDir(path.join(dir, n)));
  const official = isDir(path.join(dir, 'train')) && evalName !== undefined;
  const trainDir = official ? path.join(dir, 'train') : dir;
  const trainClasses = scanClasses(trainDir);
  const classNames = [...trainClasses.keys()];
  const train = listFiles(trainDir, trainClasses, classNames);
  const evalDir = official ? path.join(dir, evalName) : undefined;
  const test = evalDir ? listFiles(evalDir, scanClasses(evalDir), classNames) : undefined;
  return {
    train: imageSource(train.files, train.y, o, official ? 'train images' : 'images', quiet),
    ...(test ? { test: imageSource(test.files, test.y, o, `${evalName} images`, quiet) } : {}),
    numClasses: classNames.length,
    classNames,
    defaultPreprocess: 'imagenet-torch',
    classGrouped: true,
    source:
      `image folders in ${dir}${official ? ` (train/ and ${evalName}/)` : ''}, ${classNames.length} classes, ` +
      `shorter side resized to ${o.resize} (${o.kernel}), centre crop ${o.size}x${o.size}`,
    settings: { dir, ...(evalDir ? { trainDir, testDir: evalDir } : {}), ...o },
  };
}
