/**
 * A first-in first-out queue of at most `capacity` items on a ring buffer: `push` is O(1) and,
 * when full, drops the oldest item (the caller counts the drops); `drain` takes everything in order.
 * For queues that must stay bounded when their consumer falls behind, where shifting or splicing
 * an array would cost O(n) per item at exactly the moment the process is under most load.
 */
export class BoundedQueue<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer`);
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** Adds an item; returns 1 when the oldest was dropped to make room, else 0. */
  push(item: T): 0 | 1 {
    const tail = (this.head + this.size) % this.capacity;
    this.items[tail] = item;
    if (this.size < this.capacity) {
      this.size += 1;
      return 0;
    }
    this.head = (this.head + 1) % this.capacity;
    return 1;
  }

  /** Everything queued, oldest first; the queue is empty afterwards. */
  drain(): T[] {
    const out = new Array<T>(this.size);
    for (let i = 0; i < this.size; i++) {
      const at = (this.head + i) % this.capacity;
      out[i] = this.items[at] as T;
      this.items[at] = undefined;
    }
    this.head = 0;
    this.size = 0;
    return out;
  }
}
