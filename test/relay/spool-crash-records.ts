/** Record contents shared by the crash test and its child: derived from an id, so the parent can check them. */
export function payloadFor(id: string): Buffer {
  return Buffer.from(`${id}|`.repeat(Math.ceil(170 / (id.length + 1)))).subarray(0, 170);
}

export function samplesFor(id: string): number {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return (h % 5) + 1;
}
