import { describe, expect, it } from "vitest";
import { type PickModel, restorable, savePicked, takePicked } from "./pickedSeats";

class MemoryStorage implements Storage {
  private items = new Map<string, string>();
  get length() {
    return this.items.size;
  }
  clear() {
    this.items.clear();
  }
  getItem(k: string) {
    return this.items.get(k) ?? null;
  }
  key(n: number) {
    return [...this.items.keys()][n] ?? null;
  }
  removeItem(k: string) {
    this.items.delete(k);
  }
  setItem(k: string, v: string) {
    this.items.set(k, v);
  }
}

function model(statuses: Record<string, boolean>): PickModel {
  const ids = Object.keys(statuses);
  return {
    idOf: (i) => ids[i] as string,
    indexOf: (id) => ids.indexOf(id),
    isAvailable: (i) => statuses[ids[i] as string] === true,
    label: (i) => `seat ${ids[i]}`,
  };
}

describe("seats picked before logging in", () => {
  it("are kept per concert and read once", () => {
    const store = new MemoryStorage();
    savePicked("c1", ["floor-A-1", "floor-A-2"], store);
    savePicked("c2", ["floor-B-1"], store);
    expect(takePicked("c1", store)).toEqual(["floor-A-1", "floor-A-2"]);
    expect(takePicked("c1", store)).toEqual([]);
    expect(takePicked("c2", store)).toEqual(["floor-B-1"]);
  });

  it("forget an empty pick and survive a damaged entry", () => {
    const store = new MemoryStorage();
    savePicked("c1", ["floor-A-1"], store);
    savePicked("c1", [], store);
    expect(store.length).toBe(0);
    store.setItem("encore.picked.c1", "{not json");
    expect(takePicked("c1", store)).toEqual([]);
    store.setItem("encore.picked.c1", JSON.stringify(["a", 3, null]));
    expect(takePicked("c1", store)).toEqual(["a"]);
  });

  it("come back while still available; the others are named and dropped", () => {
    const m = model({ "A-1": true, "A-2": false, "A-3": true, "A-4": true });
    expect(restorable(m, ["A-1", "A-2", "A-3", "gone-9", "A-1"], 8)).toEqual({
      keep: [0, 2],
      lost: ["seat A-2"],
    });
  });

  it("never exceed the ticket limit", () => {
    const m = model({ "A-1": true, "A-2": true, "A-3": true });
    expect(restorable(m, ["A-1", "A-2", "A-3"], 2)).toEqual({ keep: [0, 1], lost: ["seat A-3"] });
  });
});
