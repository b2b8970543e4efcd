// Files a component hands over (the WIT `files` interface), as host-runner keeps them: under
// the run's files directory at the relative path the component names, written to a temporary
// file beside it that is renamed into place only when it holds exactly the bytes promised,
// its SHA-256 computed on the way. Unsafe paths are refused; unfinished files leave nothing.

import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const MAX_OPEN = 64;

/** Why `path` may not be written under the files directory, or null when it may. */
export function unsafePath(path) {
  if (path.length === 0 || Buffer.byteLength(path) > 1024) return 'it must be 1 to 1024 bytes long';
  if (path.startsWith('/')) return 'it must be relative';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\\:]/.test(path)) return 'it holds a control character, a backslash or a colon';
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') return 'it has an empty, `.` or `..` segment';
    if (Buffer.byteLength(segment) > 255) return 'a segment is longer than 255 bytes';
  }
  return null;
}

export class FileStore {
  /** Files go under `dir` (null: the run takes no files; `setting` says how to give one). */
  constructor(dir, setting = '--files-dir') {
    this.dir = dir === null ? null : resolve(dir);
    this.setting = setting;
    this.open = new Map();
    this.next = 1;
  }

  /** Our `datasource:connector/files` interface (results as jco's `{tag, val}`). */
  imports() {
    const result = (fn) => {
      try {
        return { tag: 'ok', val: fn() };
      } catch (e) {
        return { tag: 'err', val: e instanceof Error ? e.message : String(e) };
      }
    };
    return {
      openFile: (_stream, path) => result(() => this.#open(path)),
      writeFile: (handle, chunk) => result(() => this.#write(handle, chunk)),
      finishFile: (handle, size) => result(() => this.#finish(handle, BigInt(size))),
      abortFile: (handle) => this.#drop(handle),
    };
  }

  /** Removes every file still being written (the run ended). */
  dropAll() {
    for (const handle of [...this.open.keys()]) this.#drop(handle);
  }

  #open(path) {
    if (this.dir === null) throw new Error(`this run has no place for files: set ${this.setting} to receive them`);
    const why = unsafePath(path);
    if (why) throw new Error(`file path ${JSON.stringify(path)} refused: ${why}`);
    if (this.open.size >= MAX_OPEN) throw new Error(`${MAX_OPEN} files are open already; finish one first`);
    const target = join(this.dir, ...path.split('/'));
    const parent = dirname(target);
    mkdirSync(parent, { recursive: true });
    const temp = join(parent, `.partial-${randomBytes(6).toString('hex')}`);
    const fd = openSync(temp, 'wx', 0o644);
    const handle = this.next++;
    this.open.set(handle, { target, temp, fd, hash: createHash('sha256'), written: 0n });
    return handle;
  }

  #write(handle, chunk) {
    const file = this.#get(handle);
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    try {
      let off = 0;
      while (off < bytes.length) off += writeSync(file.fd, bytes, off);
    } catch (e) {
      this.#drop(handle);
      throw new Error(`writing ${file.target} failed: ${e.message}`);
    }
    file.hash.update(bytes);
    file.written += BigInt(bytes.length);
  }

  #finish(handle, size) {
    const file = this.#get(handle);
    if (file.written !== size) {
      this.#drop(handle);
      throw new Error(`${file.target}: got ${file.written} bytes, expected ${size}; the file was not kept`);
    }
    fsyncSync(file.fd);
    closeSync(file.fd);
    this.open.delete(handle);
    renameSync(file.temp, file.target);
    return { size, sha256: file.hash.digest('hex'), location: file.target };
  }

  #drop(handle) {
    const file = this.open.get(handle);
    if (!file) return;
    this.open.delete(handle);
    try {
      closeSync(file.fd);
    } catch {
      // already closed
    }
    rmSync(file.temp, { force: true });
  }

  #get(handle) {
    const file = this.open.get(handle);
    if (!file) throw new Error(`file handle ${handle} is not open`);
    return file;
  }
}
