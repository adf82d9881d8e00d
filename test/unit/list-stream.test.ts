/**
 * ListItemSplitter: a LIST response read one item at a time, whatever the
 * chunking, with JSON's strings (braces, brackets, escaped quotes and a key
 * named `items` inside them) and nested `items` keys left alone.
 */
import { ListItemSplitter } from '../../src/controller/list-stream';

const list = {
  kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '42', continue: 'next' },
  items: [
    { metadata: { name: 'a' }, data: { tricky: '}]{["items":[ \\"quoted\\" \u00e9\u4e2d' } },
    { metadata: { name: 'b', annotations: { items: '[1,2]' } }, spec: { items: [{ x: 1 }, { y: [2] }] } },
    { metadata: { name: 'c' }, data: {} },
  ],
};

test.each([1, 2, 7, 64, 100_000])('items come out one by one, and the envelope without them, in chunks of %i bytes', (size) => {
  const bytes = Buffer.from(JSON.stringify(list), 'utf8');
  const seen: unknown[] = [];
  const splitter = new ListItemSplitter((i) => seen.push(i));
  for (let at = 0; at < bytes.length; at += size) splitter.push(bytes.subarray(at, at + size));
  expect(seen).toEqual(list.items);
  expect(splitter.end()).toEqual({ ...list, items: [] });
});

test('each item is handed over as soon as its last byte arrives', () => {
  const text = JSON.stringify(list);
  const seen: string[] = [];
  const splitter = new ListItemSplitter((i) => seen.push((i as { metadata: { name: string } }).metadata.name));
  const endOfA = text.indexOf('"name":"b"');
  splitter.push(Buffer.from(text.slice(0, endOfA)));
  expect(seen).toEqual(['a']);
  splitter.push(Buffer.from(text.slice(endOfA)));
  expect(seen).toEqual(['a', 'b', 'c']);
});

test('a list with no items, or items: null', () => {
  for (const body of [{ kind: 'L', metadata: { resourceVersion: '1' }, items: [] }, { kind: 'L', metadata: { resourceVersion: '1' }, items: null }]) {
    const seen: unknown[] = [];
    const splitter = new ListItemSplitter((i) => seen.push(i));
    splitter.push(Buffer.from(JSON.stringify(body)));
    expect(seen).toEqual([]);
    expect(splitter.end().metadata).toEqual({ resourceVersion: '1' });
  }
});
