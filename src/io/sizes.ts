/**
 * On-disk size of a model: raw bytes and gzip (zlib level 9) bytes, so that float ("analog")
 * models and quantized exports can be compared the way they would be served over HTTP.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { gzipSync } from 'zlib';

import { QnnError } from '../errors';
import { statOrUndefined } from './internal';

/** Raw and gzip size of a model directory or file. */
export interface ModelSize {
  /** Sum of the file sizes. */
  bytes: number;
  /** Sum over files of the size of each file gzipped at level 9. */
  gzipBytes: number;
}

/**
 * Size of `p`: every file under it (recursively) when it is a directory, else the file itself
 * (e.g. a Keras `.h5`). Each file is gzipped on its own at level 9 and the results are summed.
 */
export async function dirSize(p: string): Promise<ModelSize> {
  const st = await statOrUndefined(p);
  if (!st) throw new QnnError('QNN_E_IO', `${p} not found`);
  if (!st.isDirectory()) {
    const data = await fsp.readFile(p);
    return { bytes: data.length, gzipBytes: gzipSync(data, { level: 9 }).length };
  }
  const total: ModelSize = { bytes: 0, gzipBytes: 0 };
  for (const name of (await fsp.readdir(p)).sort()) {
    const s = await dirSize(path.join(p, name));
    total.bytes += s.bytes;
    total.gzipBytes += s.gzipBytes;
  }
  return total;
}
