/**
 * Reads a LIST response one item at a time.
 *
 * The apiserver's `limit` counts objects, not bytes: a page of 100 ConfigMaps
 * of 1 MiB each is a 100 MiB response, which as a Buffer, a string and parsed
 * objects is several times the controller's heap. Anyone who may create a
 * ConfigMap can make such a page (issue #26: ~135 of them killed the
 * controller, and again 6 s after each restart). This splitter scans the bytes
 * as they arrive and hands over each element of the top-level `items` array
 * as soon as it is complete, so a caller that keeps less than the object
 * (the informers' summaries and stubs) never holds more than one object and
 * one chunk. Everything outside `items` (kind, metadata with resourceVersion
 * and continue) is kept and parsed at the end, with `items` left empty.
 *
 * Only JSON's structure is tracked (strings, escapes, nesting); it works on
 * bytes, which is safe for UTF-8: no byte of a multi-byte character is below 0x80.
 */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN = new Set([0x7b, 0x5b]); // { [
const CLOSE = new Set([0x7d, 0x5d]); // } ]

export class ListItemSplitter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Bytes of the string being read at depth 1 (keys of the list object are short). */
  private keyBytes: number[] = [];
  private lastKey = '';
  private sawColon = false;
  private inItems = false;
  /** Parts of the item being read, and where it started in the current chunk (-1: it started in an earlier one). */
  private itemParts: Buffer[] = [];
  private itemStart = -1;
  private readonly envelope: Buffer[] = [];

  constructor(private readonly onItem: (item: unknown) => void) {}

  push(chunk: Buffer): void {
    let envStart = this.inItems ? -1 : 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) {
          this.inString = false;
          if (this.depth === 1) this.lastKey = Buffer.from(this.keyBytes).toString('utf8');
        } else if (this.depth === 1 && this.keyBytes.length < 64) this.keyBytes.push(b);
        continue;
      }
      if (b === QUOTE) {
        this.inString = true;
        if (this.depth === 1) { this.keyBytes = []; this.sawColon = false; }
      } else if (b === COLON && this.depth === 1) {
        this.sawColon = true;
      } else if (OPEN.has(b)) {
        this.depth++;
        if (this.depth === 2 && b === 0x5b && this.sawColon && this.lastKey === 'items') {
          // The envelope keeps `[`; what follows up to the matching `]` is items.
          this.envelope.push(chunk.subarray(envStart, i + 1));
          envStart = -1;
          this.inItems = true;
        } else if (this.inItems && this.depth === 3) {
          this.itemStart = i;
        }
      } else if (CLOSE.has(b)) {
        if (this.inItems && this.depth === 3) {
          this.itemParts.push(chunk.subarray(this.itemStart === -1 ? 0 : this.itemStart, i + 1));
          const text = Buffer.concat(this.itemParts).toString('utf8');
          this.itemParts = [];
          this.itemStart = -1;
          this.onItem(JSON.parse(text));
        } else if (this.inItems && this.depth === 2) {
          this.inItems = false;
          envStart = i;
        }
        this.depth--;
      }
    }
    if (this.inItems && this.depth >= 3) {
      // An item continues in the next chunk.
      this.itemParts.push(this.itemStart === -1 ? chunk : chunk.subarray(this.itemStart));
      this.itemStart = -1;
    }
    if (envStart >= 0) this.envelope.push(chunk.subarray(envStart));
  }

  /** The list without its items (`items: []`), once the whole response was pushed. */
  end(): { metadata?: { resourceVersion?: string; continue?: string }; [k: string]: unknown } {
    const text = Buffer.concat(this.envelope).toString('utf8');
    return text.trim() ? JSON.parse(text) : {};
  }
}
