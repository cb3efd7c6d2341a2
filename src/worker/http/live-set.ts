/**
 * A set of short-lived objects (connections, responses) held by a long-lived
 * owner, without the garbage-collection cost of a `Set`.
 *
 * Why not `Set`: the worker's Sets live in V8's old generation, and every
 * connection or response added to them is young. Each time a Set's hash table
 * fills up with deleted entries V8 rehashes it into a new table, and the old
 * table, itself in the old generation, keeps pointing at the entries it held.
 * The scavenger treats every old-to-young pointer as a root until the next full
 * GC, so connections that had long closed, with their parsers, requests and
 * buffers, survived scavenges and were promoted. Under `Connection: close`
 * load (bench, 2 workers) a Set of sockets doubled what survived each
 * scavenge (~1.1 MB against ~0.45 MB for bare node:cluster) and cost ~2 µs of
 * GC per request; with this class it is ~0.5 MB.
 *
 * Here the slots array only grows (to the peak population); a removed entry's
 * slot is overwritten, so no stale copy points at it. Each member carries its
 * slot index in one symbol property, added once (so all members share one
 * hidden-class transition) and reset on delete, never deleted (which would
 * turn the object into a slow dictionary). The symbol is the same for every
 * set, so each access site below sees one property name (a per-set symbol
 * would make them keyed by several); the price is that an object belongs to
 * one LiveSet at a time, which add() enforces.
 */
const kSlot = Symbol('tsunicorn.slot');
type Member = { [kSlot]?: number | undefined };

export class LiveSet<T extends object> implements Iterable<T> {
  private readonly slots: (T | undefined)[] = [];
  private readonly free: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(item: T): void {
    const m = item as Member;
    const at = m[kSlot];
    if (at !== undefined) {
      if (this.slots[at] === item) return;
      throw new Error('LiveSet: the object is already in another LiveSet');
    }
    let i: number;
    if (this.free.length > 0) {
      i = this.free.pop() as number;
      this.slots[i] = item;
    } else {
      i = this.slots.push(item) - 1;
    }
    m[kSlot] = i;
    this.count++;
  }

  delete(item: T): boolean {
    const m = item as Member;
    const i = m[kSlot];
    if (i === undefined || this.slots[i] !== item) return false;
    this.slots[i] = undefined;
    m[kSlot] = undefined;
    this.free.push(i);
    this.count--;
    return true;
  }

  /** The members at the time of the call: adding or deleting while iterating is safe. */
  *[Symbol.iterator](): Iterator<T> {
    for (const item of this.slots.slice()) if (item !== undefined) yield item;
  }
}
