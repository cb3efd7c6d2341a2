/**
 * A set of short-lived objects (connections, responses) held by a long-lived owner, without a `Set`'s GC
 * cost: a rehashed-away Set table in the old generation keeps pointing at young entries, which then survive
 * scavenges (docs/benchmarks.md). Each member carries its slot index in one symbol property, so an object
 * belongs to one LiveSet at a time.
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
