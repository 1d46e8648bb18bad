// The queue of operations parked on a channel (waiting senders, parked receivers): a doubly
// linked FIFO with O(1) push, shift and removal of any entry. A channel may hold tens of
// thousands of waiters (one per pending `send`), and aborts withdraw them from anywhere in the
// queue, so an array with `shift()`/`splice()` would make draining or aborting them quadratic.

/** One parked operation; the channel keeps it to withdraw the operation in O(1). */
export interface WaitNode<W> {
  readonly value: W;
  prev: WaitNode<W> | null;
  next: WaitNode<W> | null;
  /** The list it is in; null once shifted or removed. */
  list: WaitList<W> | null;
}

export class WaitList<W> {
  private head: WaitNode<W> | null = null;
  private tail: WaitNode<W> | null = null;
  private size = 0;

  get length(): number {
    return this.size;
  }

  /** Appends `value`; the node returned withdraws it with `remove`. */
  push(value: W): WaitNode<W> {
    const node: WaitNode<W> = { value, prev: this.tail, next: null, list: this };
    if (this.tail === null) this.head = node;
    else this.tail.next = node;
    this.tail = node;
    this.size++;
    return node;
  }

  /** The oldest value, left in place; undefined when empty. */
  peek(): W | undefined {
    return this.head?.value;
  }

  /** Removes and returns the oldest value; the caller checks `length` first. */
  shift(): W {
    const node = this.head as WaitNode<W>;
    this.unlink(node);
    return node.value;
  }

  /** Withdraws a node of this list; false if it already left (shifted or removed). */
  remove(node: WaitNode<W>): boolean {
    if (node.list !== this) return false;
    this.unlink(node);
    return true;
  }

  /** Withdraws the newest node holding `value` (O(n): for callers that kept no node). */
  removeValue(value: W): boolean {
    for (let node = this.tail; node !== null; node = node.prev) {
      if (node.value === value) {
        this.unlink(node);
        return true;
      }
    }
    return false;
  }

  /** Removes every value and returns them oldest first. */
  drain(): W[] {
    const out: W[] = [];
    while (this.head !== null) out.push(this.shift());
    return out;
  }

  private unlink(node: WaitNode<W>): void {
    const { prev, next } = node;
    if (prev === null) this.head = next;
    else prev.next = next;
    if (next === null) this.tail = prev;
    else next.prev = prev;
    node.prev = node.next = null;
    node.list = null;
    this.size--;
  }
}
