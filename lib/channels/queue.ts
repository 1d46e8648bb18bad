// A FIFO ring buffer with O(1) push and shift, used for channel buffers. It allocates nothing
// until the first push, so idle channels (five per connection) cost a few bytes.

export class Queue<T> {
  private items: (T | undefined)[] | null = null;
  private head = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(value: T): void {
    let items = this.items;
    if (items === null) {
      items = this.items = new Array<T | undefined>(4);
    } else if (this.size === items.length) {
      items = this.grow(items);
    }
    items[(this.head + this.size) & (items.length - 1)] = value;
    this.size++;
  }

  /** Removes and returns the oldest value; the caller checks `length` first. */
  shift(): T {
    const items = this.items as (T | undefined)[];
    const value = items[this.head] as T;
    items[this.head] = undefined;
    this.head = (this.head + 1) & (items.length - 1);
    this.size--;
    return value;
  }

  peek(): T | undefined {
    return this.size === 0 ? undefined : (this.items as (T | undefined)[])[this.head];
  }

  /** Removes every value and returns them oldest first. */
  drain(): T[] {
    const out: T[] = [];
    while (this.size > 0) out.push(this.shift());
    return out;
  }

  private grow(items: (T | undefined)[]): (T | undefined)[] {
    const next = new Array<T | undefined>(items.length * 2);
    for (let i = 0; i < this.size; i++) next[i] = items[(this.head + i) & (items.length - 1)];
    this.head = 0;
    this.items = next;
    return next;
  }
}
