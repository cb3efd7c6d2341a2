/**
 * --max-worker-heap as a pure rule: a worker is recycled once its V8 heap in
 * use has stayed above PERCENT of its heap limit for HEAP_STRIKES heartbeats
 * in a row. In a row, because heap in use includes garbage a collection is
 * about to free; a leak stays high, a burst does not.
 */

export const HEAP_STRIKES = 3;

export interface HeapReading {
  used: number;
  limit: number;
}

/** The strike count after this beat (0 when under the threshold, unset or unreadable). */
export function heapStrikes(previous: number, heap: HeapReading | undefined, percent: number): number {
  if (percent <= 0 || !heap || heap.limit <= 0) return 0;
  return heap.used > (heap.limit * percent) / 100 ? previous + 1 : 0;
}

export function describeHeap(pid: number, heap: HeapReading, percent: number): string {
  const mb = (n: number) => Math.round(n / 1048576);
  const share = Math.round((heap.used / heap.limit) * 100);
  return (
    `Worker (pid:${pid}) uses ${mb(heap.used)} MB of V8 heap, ${share} % of its ${mb(heap.limit)} MB limit, ` +
    `above --max-worker-heap ${percent} % for ${HEAP_STRIKES} heartbeats; replacing it`
  );
}
