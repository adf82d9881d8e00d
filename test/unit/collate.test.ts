import fc from 'fast-check';
import { compareLikeLocale, compareVersionsLikeLocale } from '../../src/collate';

const sign = (n: number) => Math.sign(n);
const chars = fc.constantFrom(...'_-,;:!?.\'"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyzAZé '.split(''));

test('orders strings as localeCompare does (label keys, file names, and anything else)', () => {
  const str = fc.oneof(fc.string({ unit: chars, maxLength: 12 }), fc.constantFrom('app.kubernetes.io/name', 'app.kubernetes.io/component', 'model', 'inference_engine', 'a-b', 'a_b', 'a.b', 'a', 'ab', ''), fc.string());
  fc.assert(fc.property(str, str, (a, b) => { expect(sign(compareLikeLocale(a, b))).toBe(sign(a.localeCompare(b))); }), { numRuns: 20_000 });
});

test('orders versions as localeCompare with numeric collation does', () => {
  const version = fc.array(fc.oneof(fc.nat(30), fc.constantFrom(100, 2 ** 40)), { minLength: 1, maxLength: 4 }).map((xs) => xs.join('.'));
  const str = fc.oneof(version, fc.constantFrom('0.9', '0.9.2', '0.11.0', '01.2', '1.2-rc1', '1.10', ''), fc.string({ unit: chars, maxLength: 6 }));
  fc.assert(fc.property(str, str, (a, b) => { expect(sign(compareVersionsLikeLocale(a, b))).toBe(sign(a.localeCompare(b, undefined, { numeric: true }))); }), { numRuns: 20_000 });
});
